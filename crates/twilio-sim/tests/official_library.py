"""Drives twilio-sim through Twilio's official Python helper library.

Run by tests/sim.rs (`official_python_library_sees_a_faithful_twilio`) with the
simulator's base URL and an account's credentials in the environment. Every resource
the simulator serves is used through the library's typed calls, and what the library
parsed is checked (dates became datetimes, numbers numbers, lists paged). Prints
"N passed, M failed" and exits non-zero on any failure.
"""

import datetime
import os
import sys
import traceback

from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

BASE = os.environ["TWILIO_SIM_BASE"].rstrip("/")
ACCOUNT = os.environ["TWILIO_SIM_ACCOUNT_SID"]
TOKEN = os.environ["TWILIO_SIM_AUTH_TOKEN"]
NUMBER = os.environ["TWILIO_SIM_NUMBER"]
SERVICE = os.environ["TWILIO_SIM_VI_SERVICE"]


class SimulatorHttpClient(TwilioHttpClient):
    """Sends what the library addresses to Twilio's hosts to the simulator instead."""

    HOSTS = ("https://api.twilio.com", "https://intelligence.twilio.com")

    def request(self, method, url, *args, **kwargs):
        for host in self.HOSTS:
            if url.startswith(host):
                url = BASE + url[len(host):]
        return super().request(method, url, *args, **kwargs)


client = Client(ACCOUNT, TOKEN, http_client=SimulatorHttpClient())
results = []


def check(name):
    def run(fn):
        try:
            fn()
            results.append((name, None))
        except Exception:  # noqa: BLE001 - every failure is reported, then counted
            results.append((name, traceback.format_exc()))
        return fn

    return run


def is_date(value):
    return isinstance(value, datetime.datetime) and value.year >= 2020


@check("account fetch: dates parse")
def _():
    account = client.api.v2010.accounts(ACCOUNT).fetch()
    assert account.sid == ACCOUNT
    assert account.status == "active"
    assert is_date(account.date_created), account.date_created
    assert is_date(account.date_updated), account.date_updated


@check("incoming numbers: list, fetch, update keeps methods")
def _():
    numbers = client.incoming_phone_numbers.list(phone_number=NUMBER)
    assert [n.phone_number for n in numbers] == [NUMBER], numbers
    number = client.incoming_phone_numbers(numbers[0].sid).fetch()
    assert is_date(number.date_created) and is_date(number.date_updated)
    assert number.capabilities["voice"] is True
    updated = client.incoming_phone_numbers(number.sid).update(
        sms_method="GET", status_callback_method="GET",
        voice_fallback_url="https://fallback.example/voice",
    )
    assert updated.sms_method == "GET", updated.sms_method
    assert updated.status_callback_method == "GET"
    assert updated.voice_fallback_url == "https://fallback.example/voice"
    assert updated.origin == "twilio"


@check("available numbers, purchase and release")
def _():
    available = client.available_phone_numbers("US").local.list(limit=3)
    assert available and available[0].phone_number.startswith("+1"), available
    bought = client.incoming_phone_numbers.create(phone_number=available[0].phone_number)
    assert bought.sid.startswith("PN") and is_date(bought.date_created)
    assert client.incoming_phone_numbers(bought.sid).delete() is True


@check("calls: create, fetch, list with filters, update")
def _():
    call = client.calls.create(
        to="+15557654321", from_=NUMBER,
        twiml="<Response><Say>Hello from the library test.</Say></Response>",
    )
    assert call.sid.startswith("CA")
    fetched = client.calls(call.sid).fetch()
    assert fetched.to == "+15557654321"
    assert is_date(fetched.date_created) and is_date(fetched.start_time)
    listed = client.calls.list(to="+15557654321", limit=20)
    assert call.sid in [c.sid for c in listed], listed
    assert client.calls.list(to="+15550000000") == []
    tomorrow = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)
    assert client.calls.list(start_time_after=tomorrow) == []
    ended = client.calls(call.sid).update(status="completed")
    assert ended.status in ("completed", "canceled"), ended.status


@check("messages: create, fetch, list filtered by To")
def _():
    sent = client.messages.create(to="+15557650001", from_=NUMBER, body="hello")
    assert sent.sid.startswith("SM")
    fetched = client.messages(sent.sid).fetch()
    assert fetched.body == "hello" and is_date(fetched.date_updated)
    listed = client.messages.list(to="+15557650001")
    assert [m.sid for m in listed] == [sent.sid], listed


@check("recordings: account list, fetch, media")
def _():
    recordings = client.recordings.list(limit=20)
    assert recordings, "the scripted call left a recording"
    recording = client.recordings(recordings[0].sid).fetch()
    assert recording.duration and int(recording.duration) > 0
    assert is_date(recording.date_created) and is_date(recording.date_updated)
    by_call = client.recordings.list(call_sid=recording.call_sid)
    assert recording.sid in [r.sid for r in by_call]


@check("voice intelligence: transcript, operator results")
def _():
    recording = client.recordings.list(limit=1)[0]
    transcript = client.intelligence.v2.transcripts.create(
        service_sid=SERVICE,
        channel={"media_properties": {"source_sid": recording.sid}},
        customer_key=recording.call_sid,
    )
    assert transcript.sid.startswith("GT")
    fetched = client.intelligence.v2.transcripts(transcript.sid).fetch()
    assert is_date(fetched.date_created), fetched.date_created
    results = client.intelligence.v2.transcripts(transcript.sid).operator_results.list()
    assert results, "operator results"
    one = client.intelligence.v2.transcripts(transcript.sid).operator_results(
        results[0].operator_sid
    ).fetch()
    assert one.operator_sid == results[0].operator_sid


failed = [(name, error) for name, error in results if error]
for name, error in failed:
    print(f"FAILED {name}\n{error}", file=sys.stderr)
print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
