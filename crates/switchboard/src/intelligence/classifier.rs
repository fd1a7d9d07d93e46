//! The local classifier: was an appointment booked on this call, and why did the caller
//! call. Offline, deterministic, no model to download.
//!
//! Keyword matching fails on exactly the calls a clinic cares about ("we couldn't find
//! a time", "we're fully booked", "you're all set for the 9th"), so this reads the text
//! as a sequence of clauses: phrases are matched longest-first (so "fully booked" is
//! never "booked"), a negation or an intent word before a phrase changes what it means
//! ("did not book", "wanted to book"), the last outcome of the call wins (a time
//! offered, declined, then another accepted is a booking), and in transcripts an
//! agent's offer of a time followed by the customer's yes is a booking even when nobody
//! says "book". Every decision names the phrases that made it: the evidence.
//!
//! Accuracy is measured by `switchboard bench classify` against the labelled calls in
//! `data/classifier/` (see its README for the labelling rules).

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

/// Changes whenever a rule changes, so stored verdicts of an older version are redone.
pub const VERSION: &str = "local-4";

/// Longest text read, in bytes: longer texts are read as their start and their end
/// (where a call's purpose and its outcome are).
const MAX_TEXT: usize = 16 * 1024;

/// What the text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextKind {
    /// A narrative summary ("The caller asked…").
    Summary,
    /// `Agent:` / `Customer:` turns.
    Transcript,
}

/// The classifier's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// `None` when there was nothing to read.
    pub appointment_booked: Option<bool>,
    /// One of [`super::CALL_REASONS`].
    pub call_reason: &'static str,
    /// The phrases that decided, in the order they were said.
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Speaker {
    Agent,
    Customer,
    Narrator,
}

/// What a matched phrase says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    /// A new time is held ("booked you for", "see you Monday").
    Booked,
    /// An existing appointment now has a new time.
    Moved,
    /// Nothing was free ("fully booked", "no openings").
    Unavailable,
    /// It did not happen ("did not book", "declined").
    NotBooked,
    /// Put off ("I'll call back", "think about it").
    Deferred,
    /// An appointment was cancelled.
    Cancelled,
    /// The caller wants a new appointment or visit.
    WantsBooking,
    /// The caller wants to cancel.
    WantsCancel,
    /// The caller wants to move an appointment.
    WantsMove,
    /// A question about opening hours.
    Hours,
    /// A question about prices.
    Pricing,
    /// About an appointment the caller already has (confirming, checking).
    Existing,
    /// Wrong number, sales call, robocall.
    Junk,
    /// A topic that is not an appointment, hours or prices (a bill, records, a
    /// complaint, a refill).
    Other,
    /// A time is offered.
    Offer,
    /// Yes to an offer.
    Accept,
    /// No to an offer.
    Reject,
    /// Consumed with no meaning ("no problem"), so its words match nothing else.
    Neutral,
}

/// The phrases, by what they say. A word ending in `*` matches any word it begins;
/// `a|b` either word; `~` up to two words of anything, `~~` up to five; `@time` a day,
/// date or clock time; `@who` a person ("you", "her", "my son").
const PHRASES: &[(Signal, &[&str])] = &[
    (
        Signal::Neutral,
        &[
            "no problem",
            "no worries",
            "no thanks",
            "no thank you",
            "not yet",
            "offered to reschedule|rebook|move",
            "would you like to reschedule|rebook|move|cancel",
            "do you want to reschedule|rebook|move",
            "you want to reschedule|rebook",
            "like to pick a new date",
            "not with our practice",
            "unless something|anything changed|changes",
            "no need to call back",
            "cancelled|canceled on her|him|them|me|us",
            "had cancelled|canceled on",
            "no appointment changes",
            "no booking was discussed|mentioned",
            "no appointment was discussed|mentioned",
            "bring it|him|her in any time",
            "any time during",
            "during open|business|office hours",
            "within ~ hours|hour",
            "in ~ hours",
        ],
    ),
    (
        Signal::Booked,
        &[
            "booked|scheduled|reserved|arranged|assigned",
            "booked|scheduled ~ for @time",
            "set up a|an|the|her|him|them|you|me|both",
            "set @who up",
            "made a|an appointment|booking|reservation",
            "made the appointment",
            "got|get @who in",
            "got|get @who ~ in",
            "fit|squeeze|squeezed @who in",
            "put|got|have|has @who down",
            "put me in",
            "put @who in",
            "pencil*",
            "@who are all set",
            "@who is all set",
            "all set for",
            "you are booked|confirmed|scheduled|on",
            "she|he|they is|are booked|scheduled|confirmed|set",
            "is confirmed for",
            "on the schedule",
            "see you",
            "we will see",
            "will be there within|in|between|at|by",
            "would be there within|in|between|at|by",
            "on his|her|their|the way",
            "i am sending",
            "will take it|that|him|her",
            "i will take",
            "took it|that",
            "took the time|slot|appointment|opening",
            "decided|chose to schedule|book|come|go",
            "agreed",
            "caller|customer|patient|client|she|he|they accepted",
            "accepted the|it|that|a|an",
            "come in right now|away",
            "right away",
            "come in at @time",
            "to come in @time",
            "found an opening",
            "got a technician|tech|plumber|electrician ~ for",
            "signed up",
            "confirmed for",
            "confirmed the new",
            "quedo agendad*",
            "le agende",
            "agendad*",
            "nos vemos",
            "we are on our way",
            "secured|slotted|dispatched|slated",
            "lined up",
            "locked in",
            "booked in",
            "set for @time",
            "is|was set for",
            "given an|a appointment|time|slot",
            "gave her|him|them|you an|a appointment|time|slot",
            "has been made|booked|scheduled|set",
            "resulted in a|an",
            "will see you|him|her|them",
            "will arrive|stop by",
            "will be out @time|there|between|by|within",
            "will come out",
            "is coming out|over|by",
            "confirmed a|an|the booking|appointment|visit|time|slot",
            "got * scheduled|booked",
            "made a reservation",
            "cita ~ confirmada",
            "i will book|schedule it|you|that|her|him|them",
            "let me book|schedule it|you|that|her|him|them",
            "will send a|someone|somebody",
            "la cita quedo",
        ],
    ),
    (
        Signal::Moved,
        &[
            "rescheduled|rebooked|moved|switched|shifted|reassigned",
            "changed|updated it|them to|from",
            "changed|updated his|her|the ~ from",
            "changed|updated the|her|his|their appointment|time|visit|booking|session|slot",
            "pushed|bumped|moved ~ back|up|to",
            "new time|date|slot",
            "cambiar la cita",
            "cambio la cita",
            "made the change",
            "confirmed the change",
            "extended the appointment",
            "@time instead",
            "instead of",
            "now @time",
            "switch me",
            "i will move|switch|change you|it|her|him",
            "reprogram*",
        ],
    ),
    (
        Signal::Unavailable,
        &[
            "fully|completely|all|solid booked",
            "booked up|solid|full",
            "we are booked",
            "@time is booked",
            "schedule|calendar|day|week|everything|it is booked",
            "was booked up|solid",
            "completely|all full",
            "is full",
            "are full",
            "full as well",
            "no availability|openings|opening|slots|times|spots|appointments|vacancies",
            "no available",
            "no ~ available",
            "nothing available|open|earlier|until|this",
            "there was nothing",
            "we do not have",
            "not have any openings|availability|appointments|times|slots|spots",
            "does not have anything|any",
            "not accepting new",
            "not taking new",
            "no citas",
            "no ~ citas",
            "citas disponibles",
            "no hay",
            "out of vaccine|stock",
            "earliest ~ after|too",
            "too late",
            "was down",
            "booked solid",
            "all taken",
            "nothing left",
            "none available",
            "not available",
            "unavailable",
            "no one available|free",
            "next available is|would be|was",
            "is off",
            "not open",
            "does not offer|have|install|do",
            "do not offer|install|do",
            "outside the service area",
            "out of the service area",
            "can not make it today",
            "can not do",
            "no good",
        ],
    ),
    (
        Signal::NotBooked,
        &[
            "no appointment|visit|booking was|were",
            "no appointment|visit|booking",
            "declined",
            "did not schedule|book",
            "not schedule|book",
            "without scheduling|booking",
            "not ready to schedule|book",
            "not going to book|schedule",
            "not able to schedule|book",
            "unable to book|schedule",
            "could not find a time",
            "not able to settle|find",
            "disconnected",
            "before a time was set",
            "chose|decided to wait",
            "wait and",
            "waitlist",
            "waiting list",
            "ended the call without",
            "did not make an|a",
            "no booking was made",
            "recommended another",
            "suggested a|another",
            "referred her|him|them to",
            "was|were referred to",
            "gave ~ the number",
            "emergency vet|clinic|room",
            "urgent care",
            "never mind",
            "forget it",
            "no thank you i",
            "that is okay i will",
            "kept his|her|their|the original",
            "keep the original|morning|afternoon|appointment|slot|time|date|current",
            "keep friday|saturday|monday|tuesday|wednesday|thursday|sunday",
            "i will keep",
            "original appointment remains",
            "remains in place",
            "kept saturday|sunday|monday|tuesday|wednesday|thursday|friday",
            "just curious",
            "just gathering",
            "not interested",
        ],
    ),
    (
        Signal::Deferred,
        &[
            "call|calling back",
            "call you back",
            "call ~ back",
            "get in touch",
            "reach out",
            "try again",
            "try somewhere|someone|elsewhere",
            "look|looking elsewhere",
            "somewhere|someone else",
            "another dentist|plumber|company|practice|clinic",
            "think about|it over",
            "thinks it over",
            "check with",
            "check my|her|his|their ~ schedule",
            "let me see if",
            "look at her|his|my schedule",
            "talk to my|her|his",
            "talks to her|his",
            "compare prices",
            "save up",
            "call later|when",
            "will call to",
            "call to rebook|reschedule",
            "call back to reschedule|rebook|book|schedule",
            "will call to rebook|reschedule|book|schedule",
            "would|will call to schedule|book|set",
            "might|may book|schedule",
            "might|may come|stop|swing in|by",
            "reach out to rebook|reschedule|book|schedule",
            "would|will reschedule|rebook when|later|once|after",
            "only researching",
            "researching",
            "book online later",
            "once she|he|they|i has|have|talks",
            "when things calm",
            "if there is a cancellation",
            "next time",
            "get back to",
            "will let you|them|us know",
            "follow up later",
            "call again",
            "not sure yet",
            "sleep on it",
            "discuss with|it",
            "talk it over",
            "check her|his|my|their calendar",
            "shop around",
            "hold off",
            "wait until",
        ],
    ),
    (
        Signal::Cancelled,
        &[
            "cancelled|canceled|removed",
            "it is cancelled|canceled",
            "cancelled it|her|his|the|both",
        ],
    ),
    (
        Signal::WantsCancel,
        &[
            "cancel",
            "cancelar",
            "call|calling off",
            "can not make it|come",
            "could not make",
            "will not be coming|able",
            "no longer need*",
            "will not need",
            "not need ~ after all",
            "removed from the schedule",
        ],
    ),
    (
        Signal::WantsMove,
        &[
            "reschedule",
            "rebook",
            "move|change|switch|push|moving|changing my|her|his|the|it|both|their",
            "move ~ appointment|session|visit|it",
            "change ~ appointment|time|cleaning",
            "push ~ back|to",
            "make it later|earlier",
            "later time|arrival",
            "different time|day|therapist",
            "earlier than planned",
            "an hour earlier",
            "earlier date",
            "to her|his existing",
            "add a ~ to",
            "move it",
            "move ~ to @time",
            "move @time",
            "move ~ up",
            "earlier slot|appointment|time",
            "bump ~ up|back",
            "reprogramar",
        ],
    ),
    (
        Signal::WantsBooking,
        &[
            "a|an|new appointment|appointments",
            "appointment|appointments for",
            "book|schedule|booking|scheduling",
            "book a|an|for|me|her|him|my|appointments",
            "make an appointment",
            "set up a|an",
            "like to come in|start|see",
            "come in|out|by",
            "can someone|somebody",
            "somebody|someone come|out",
            "get someone|somebody",
            "send someone|somebody",
            "need somebody|someone",
            "can you see|come|send|fit|get",
            "could you see|come",
            "see someone",
            "i|she|he|we|they need|needs|needed to see",
            "be seen",
            "get my ~ in",
            "get him|her|them|me in",
            "can i come|get|do|bring",
            "could i come|get",
            "bring * in",
            "bring her|him|it|the car",
            "asked for a|an technician|tech|plumber|electrician|appointment|visit|exam|inspection",
            "requested|request a|an|his|her ~ appointment|visit|exam|inspection|estimate|consultation|technician|tech|physical|cleaning|checkup|vaccination|service|repair|plumber|electrician",
            "requested|request|asked for a|an|his|her ~ appointment|visit|exam|inspection|estimate|consultation|technician|tech|physical|cleaning|checkup|vaccination|service|repair|plumber|electrician",
            "asked to have",
            "wanted|wants|wanting ~~ installed|done|fixed|replaced|repaired|serviced|cleaned|inspected|checked",
            "like|wanted|wants|want to begin|start",
            "need|needs|needed a|an|his|her|my|some ~ checkup|cleaning|physical|exam|appointment|visit|follow|shots|filling|haircut|trim|technician|tech|plumber|electrician|inspection|estimate|pt|therapy|treatment|tune|service|repair|installed|done|fixed|nail|round|sports|dental|x",
            "go ahead",
            "start physical|therapy|pt",
            "do you have anything",
            "anything today|tomorrow|this",
            "any chance",
            "available tomorrow|today",
            "cita",
            "looking to book|schedule|get|come|have",
            "seeking an|a",
            "interested in booking|scheduling|coming",
            "get in to see",
            "come see",
            "next|first available",
            "soonest",
            "any openings|availability",
            "your availability",
            "quiero una",
            "necesito una",
        ],
    ),
    (
        Signal::Hours,
        &[
            "hours",
            "horario",
            "what time ~~ open|close|opens|closes",
            "a que hora",
            "open|opens|closed|close|closes on|until|late|at|today|tomorrow|tonight|24",
            "are you open",
            "is open",
            "is closed",
            "you guys close",
            "what time do you",
            "walk ins",
            "work on weekends|saturdays|sundays",
            "weekend|sunday|saturday work",
            "24/7",
            "available 24",
            "evening hours",
            "lunch hours",
            "when do you open|close",
            "business|office|opening hours",
            "closing time",
            "what days",
            "open on weekends|saturday|sunday|saturdays|sundays",
            "open late|early",
            "holiday schedule",
        ],
    ),
    (
        Signal::Pricing,
        &[
            "how much",
            "asked for a|an estimate|quote of|for|on",
            "estimate of the",
            "price|prices|pricing|priced",
            "cost|costs|costing",
            "quote|quoted|quotes",
            "fee|fees",
            "rate|rates",
            "charge|charges",
            "copay",
            "financing",
            "payment plans",
            "cuanto cuesta",
            "precio",
            "ballpark",
            "self pay",
            "covered by her|his|my insurance",
            "what she would owe",
            "how much would|will|does|is",
            "expensive",
            "afford",
            "discount|discounts|coupon|coupons",
            "deposit",
            "payment options",
        ],
    ),
    (
        Signal::Existing,
        &[
            "to confirm",
            "confirming",
            "confirm my|her|his|the|their",
            "confirm my|her|his|the|their ~ appointment|appointments|visit|surgery|cleaning|session",
            "my|her|his|their|your appointment|appointments",
            "confirmed her|his|their next|upcoming",
            "make sure ~ still",
            "still on",
            "still at",
            "double checking",
            "already booked|scheduled|have",
            "i have an appointment",
            "about my appointment",
            "i booked",
            "i am scheduled",
            "i am booked",
            "had an appointment",
            "my appointment",
            "she has an appointment",
            "check on",
            "is it ready",
            "still coming",
            "check the status",
            "status of",
        ],
    ),
    (
        Signal::Junk,
        &[
            "wrong number",
            "dialed the wrong",
            "dialed ~ by mistake",
            "by mistake",
            "had the wrong",
            "extended warranty",
            "automated message|call",
            "recorded message",
            "press 1",
            "google listing|business",
            "search engine",
            "sales representative",
            "lead generation",
            "marketing",
            "we help",
            "solar",
            "special on",
            "office supply",
            "we are all set thank",
            "take us off",
            "not interested",
            "mailing list",
            "is this dr",
            "trying to reach",
            "looking for jim",
            "asking for a veterinarian",
            "looking for a pizza",
            "robocall",
            "telemarket*",
            "survey",
            "spam",
            "pre recorded",
            "prerecorded",
            "sales call",
            "merchant services",
            "business listing",
            "misdial*",
            "hung up without",
            "no one was on the line",
            "silence",
        ],
    ),
    (
        Signal::Other,
        &[
            "complain*",
            "refund",
            "charged twice",
            "duplicate charge",
            "the charge|charges",
            "a|the|her|his|my bill|invoice|invoices",
            "an invoice",
            "billing",
            "receipt",
            "records",
            "test|lab results",
            "results",
            "refill",
            "prescription",
            "permit",
            "warranty",
            "directions",
            "parking",
            "hiring",
            "a job",
            "gift card|cards|certificate|certificates",
            "left my|her|his|their",
            "feedback",
            "review",
            "tax id",
            "fax number",
            "verify",
            "update her|his|my|the|their email|address|phone|information|insurance|file",
            "ready for pickup",
            "pick it up",
            "referral",
            "medication",
            "side effects",
        ],
    ),
    (
        Signal::Offer,
        &[
            "i have|has @time",
            "have @time",
            "has @time",
            "we have|has",
            "i can do",
            "can do",
            "is open",
            "how about",
            "does @time work",
            "could see",
            "can see",
            "can have",
            "can come",
            "can get",
            "can start",
            "could look",
            "earliest",
            "first opening",
            "opening at",
            "had a cancellation",
            "offered",
            "can we come",
            "can someone be",
            "can send|bring|schedule|book|fit|squeeze|put",
            "does that work",
            "have got @time",
            "i got @time",
            "tenemos",
            "el martes|jueves|lunes|miercoles|viernes",
        ],
    ),
    (
        Signal::Accept,
        &[
            "yes|yeah|yep|sure|absolutely|definitely|perfect|great|perfecto",
            "works",
            "that works",
            "is fine|good|perfect|better|great",
            "that is fine|good|great|better",
            "sounds good|great",
            "please",
            "thank you so much",
            "will be there",
            "fine",
            "si",
            "esta bien",
            "ok|okay @time",
            "@time then",
            "that would be great",
        ],
    ),
    (
        Signal::Reject,
        &[
            "no",
            "can not",
            "hmm",
            "let me",
            "not right now",
            "i work then",
            "that is too",
        ],
    ),
];

#[derive(Debug, Clone)]
enum Slot {
    Words(Vec<&'static str>),
    Gap(usize),
    Time,
    Who,
}

struct Phrase {
    signal: Signal,
    slots: Vec<Slot>,
}

/// The phrases, and which of them can start at a given word (so a clause is not tried
/// against every phrase at every word).
struct Compiled {
    phrases: Vec<Phrase>,
    by_first_word: std::collections::HashMap<&'static str, Vec<usize>>,
    /// Phrases that start with a prefix, a time or a person.
    any_start: Vec<usize>,
}

static COMPILED: LazyLock<Compiled> = LazyLock::new(|| {
    let phrases: Vec<Phrase> = PHRASES
        .iter()
        .flat_map(|(signal, phrases)| {
            phrases.iter().map(move |p| Phrase {
                signal: *signal,
                slots: p
                    .split_whitespace()
                    .map(|w| match w {
                        "~" => Slot::Gap(2),
                        "~~" => Slot::Gap(5),
                        "*" => Slot::Gap(3),
                        "@time" => Slot::Time,
                        "@who" => Slot::Who,
                        alts => Slot::Words(alts.split('|').collect()),
                    })
                    .collect(),
            })
        })
        .collect();
    let mut by_first_word: std::collections::HashMap<&'static str, Vec<usize>> =
        std::collections::HashMap::new();
    let mut any_start = Vec::new();
    for (i, p) in phrases.iter().enumerate() {
        match p.slots.first() {
            Some(Slot::Words(alts)) if alts.iter().all(|a| !a.ends_with('*')) => {
                for a in alts {
                    by_first_word.entry(a).or_default().push(i);
                }
            }
            _ => any_start.push(i),
        }
    }
    Compiled {
        phrases,
        by_first_word,
        any_start,
    }
});

const WEEKDAYS: &[&str] = &[
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "lunes",
    "martes",
    "miercoles",
    "jueves",
    "viernes",
    "sabado",
    "domingo",
];
/// The months' names, lower case, January first.
pub const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn is_time(t: &str) -> bool {
    WEEKDAYS.contains(&t)
        || MONTHS.contains(&t)
        || matches!(
            t,
            "today"
                | "tomorrow"
                | "tonight"
                | "morning"
                | "afternoon"
                | "evening"
                | "noon"
                | "am"
                | "pm"
                | "manana"
                | "lunch"
                | "hoy"
                | "one"
                | "two"
                | "three"
                | "four"
                | "five"
                | "six"
                | "seven"
                | "eight"
                | "nine"
                | "ten"
                | "eleven"
                | "twelve"
                | "oclock"
        )
        || (t.starts_with(|c: char| c.is_ascii_digit())
            && t.trim_end_matches(['s', 't', 'n', 'd', 'r', 'h'])
                .chars()
                .all(|c| c.is_ascii_digit() || c == ':'))
}

fn is_who(t: &str) -> bool {
    matches!(
        t,
        "you"
            | "her"
            | "him"
            | "them"
            | "me"
            | "us"
            | "she"
            | "he"
            | "they"
            | "we"
            | "i"
            | "it"
            | "both"
            | "tom"
            | "max"
            | "everyone"
    )
}

const NEGATORS: &[&str] = &[
    "not", "no", "never", "unable", "without", "nothing", "nobody", "none", "neither", "nor",
    "cannot",
];
/// Before a completed-booking phrase, these make it a wish.
const WISH: &[&str] = &[
    "want",
    "wants",
    "wanted",
    "wanting",
    "like",
    "hoping",
    "hoped",
    "hope",
    "try",
    "tried",
    "trying",
    "asked",
    "asking",
    "wish",
    "whether",
    "if",
    "about",
    "requested",
];
/// Before a completed-booking phrase, these make it an offer.
const MODAL: &[&str] = &["can", "could", "would", "might", "may"];

fn fold_char(c: char) -> char {
    match c {
        'á' | 'à' | 'â' | 'ä' => 'a',
        'é' | 'è' | 'ê' | 'ë' => 'e',
        'í' | 'ì' | 'î' | 'ï' => 'i',
        'ó' | 'ò' | 'ô' | 'ö' => 'o',
        'ú' | 'ù' | 'û' | 'ü' => 'u',
        'ñ' => 'n',
        '’' | '‘' | '`' => '\'',
        c => c,
    }
}

/// Words of one piece of text, contractions spelled out.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for raw in text
        .split(|c: char| !(c.is_alphanumeric() || matches!(c, '\'' | ':' | '/' | '$' | '’')))
        .filter(|w| !w.is_empty())
    {
        let w: String = raw
            .chars()
            .flat_map(char::to_lowercase)
            .map(fold_char)
            .collect();
        let w = w.trim_matches(|c| c == '\'' || c == ':');
        if w.is_empty() {
            continue;
        }
        let (stem, tail) = match w.find('\'') {
            Some(i) => (&w[..i], &w[i + 1..]),
            None => (w, ""),
        };
        match (stem, tail) {
            ("can", "t") => out.extend(["can", "not"].map(String::from)),
            ("won", "t") => out.extend(["will", "not"].map(String::from)),
            (s, "t") if s.ends_with('n') => {
                out.push(s[..s.len() - 1].to_owned());
                out.push("not".to_owned());
            }
            (s, "re") => out.extend([s.to_owned(), "are".to_owned()]),
            (s, "m") => out.extend([s.to_owned(), "am".to_owned()]),
            (s, "ll") => out.extend([s.to_owned(), "will".to_owned()]),
            (s, "ve") => out.extend([s.to_owned(), "have".to_owned()]),
            (s, "d") => out.extend([s.to_owned(), "would".to_owned()]),
            ("let", "s") => out.extend(["let", "us"].map(String::from)),
            (s @ ("it" | "he" | "she" | "that" | "there" | "what" | "who" | "where"), "s") => {
                out.extend([s.to_owned(), "is".to_owned()]);
            }
            (s, _) => out.push(s.to_owned()),
        }
    }
    out
}

/// Clause-ending words: a negation or wish does not reach across them.
fn is_clause_break(w: &str) -> bool {
    matches!(
        w,
        "but" | "however" | "although" | "though" | "while" | "unfortunately"
    )
}

struct Clause {
    speaker: Speaker,
    turn: usize,
    words: Vec<String>,
    question: bool,
}

/// The text as clauses, with who said them.
fn clauses(kind: TextKind, text: &str) -> Vec<Clause> {
    let mut out = Vec::new();
    let mut turn = 0;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (speaker, body) = match (kind, line.split_once(':')) {
            (TextKind::Transcript, Some((who, rest))) => match who.trim().to_lowercase().as_str() {
                "agent" | "staff" | "receptionist" => (Speaker::Agent, rest),
                "customer" | "caller" | "patient" => (Speaker::Customer, rest),
                _ => (Speaker::Customer, line),
            },
            (TextKind::Transcript, None) => (Speaker::Customer, line),
            (TextKind::Summary, _) => (Speaker::Narrator, line),
        };
        turn += 1;
        // Sentences and clauses end at punctuation (a period inside "3.30" or "$59.99"
        // is not an end).
        let mut piece = String::new();
        let chars: Vec<char> = body.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            let next_digit = chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
            let ends = matches!(c, '?' | '!' | ';' | ',' | '¿' | '¡')
                || (c == '.' && !next_digit)
                || c == '—';
            if ends {
                push_clause(&mut out, speaker, turn, &piece, c == '?');
                piece.clear();
            } else {
                piece.push(c);
            }
        }
        push_clause(&mut out, speaker, turn, &piece, false);
    }
    out
}

fn push_clause(out: &mut Vec<Clause>, speaker: Speaker, turn: usize, text: &str, question: bool) {
    let mut current = Vec::new();
    for w in words(text) {
        if is_clause_break(&w) {
            if !current.is_empty() {
                out.push(Clause {
                    speaker,
                    turn,
                    words: std::mem::take(&mut current),
                    question: false,
                });
            }
        } else {
            current.push(w);
        }
    }
    if !current.is_empty() {
        out.push(Clause {
            speaker,
            turn,
            words: current,
            question,
        });
    }
}

/// Where a phrase matches at `i`, the end of the shortest match.
fn match_at(slots: &[Slot], words: &[String], i: usize) -> Option<usize> {
    let Some((first, rest)) = slots.split_first() else {
        return Some(i);
    };
    match first {
        Slot::Gap(max) => (0..=*max)
            .filter(|skip| i + skip <= words.len())
            .find_map(|skip| match_at(rest, words, i + skip)),
        Slot::Time | Slot::Who | Slot::Words(_) => {
            let w = words.get(i)?;
            let ok = match first {
                Slot::Time => is_time(w),
                Slot::Who => {
                    // "her son", "my daughter", "the dog", "Luna": one or two words.
                    if is_who(w) {
                        true
                    } else if matches!(w.as_str(), "my" | "her" | "his" | "the" | "your") {
                        return words.get(i + 1).and_then(|_| match_at(rest, words, i + 2));
                    } else {
                        false
                    }
                }
                Slot::Words(alts) => alts.iter().any(|a| match a.strip_suffix('*') {
                    Some(prefix) => w.starts_with(prefix),
                    None => a == w,
                }),
                Slot::Gap(_) => false,
            };
            if ok {
                match_at(rest, words, i + 1)
            } else {
                None
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Hit {
    signal: Signal,
    speaker: Speaker,
    turn: usize,
    phrase: String,
    /// The words around the phrase, as evidence a person can read.
    context: String,
    /// The customer said yes to a time the agent offered.
    accepted_offer: bool,
}

/// Up to five words either side of `start..end` in a clause.
fn context_of(words: &[String], start: usize, end: usize) -> String {
    let from = start.saturating_sub(5);
    let to = (end + 5).min(words.len());
    words[from..to].join(" ")
}

/// The signals of one clause, in order: longest phrases first, no word in two.
fn clause_hits(c: &Clause, hits: &mut Vec<Hit>) {
    let mut found: Vec<(usize, usize, usize, Signal)> = Vec::new();
    let compiled = &*COMPILED;
    for i in 0..c.words.len() {
        let starting = compiled
            .by_first_word
            .get(c.words[i].as_str())
            .into_iter()
            .flatten()
            .chain(&compiled.any_start);
        for &n in starting {
            let p = &compiled.phrases[n];
            if let Some(end) = match_at(&p.slots, &c.words, i)
                && end > i
            {
                found.push((i, end, n, p.signal));
            }
        }
    }
    // Longest first; on a tie, the earlier, then the order of PHRASES.
    found.sort_by_key(|&(start, end, n, _)| (std::cmp::Reverse(end - start), start, n));
    let mut taken = vec![false; c.words.len()];
    let mut chosen: Vec<(usize, usize, Signal)> = Vec::new();
    for (start, end, _, signal) in found {
        if taken[start..end].iter().any(|t| *t) {
            continue;
        }
        taken[start..end].iter_mut().for_each(|t| *t = true);
        chosen.push((start, end, signal));
    }
    chosen.sort_by_key(|&(start, ..)| start);
    for (start, end, signal) in chosen {
        // What reaches a phrase: up to four words back, not across "and" or "then".
        let mut from = start.saturating_sub(4);
        if let Some(k) = c.words[from..start]
            .iter()
            .rposition(|w| matches!(w.as_str(), "and" | "then" | "so" | "after"))
        {
            from += k + 1;
        }
        let before = &c.words[from..start];
        let negated = before.iter().enumerate().any(|(k, w)| {
            NEGATORS.contains(&w.as_str())
                && !(w == "no"
                    && before
                        .get(k + 1)
                        .is_some_and(|n| matches!(n.as_str(), "problem" | "worries")))
        });
        let wished = before.iter().any(|w| WISH.contains(&w.as_str()));
        let offered = before.iter().any(|w| MODAL.contains(&w.as_str()));
        let already = before.iter().any(|w| w == "already");
        let signal = match signal {
            Signal::Booked | Signal::Moved if negated => Signal::NotBooked,
            Signal::Booked if already => Signal::Existing,
            Signal::WantsBooking if before.iter().any(|w| w == "whether") => Signal::Neutral,
            Signal::Booked if wished => Signal::WantsBooking,
            Signal::Moved if wished => Signal::WantsMove,
            // A customer asking "could I come at 5 instead?" wishes; an agent offers.
            Signal::Booked if offered && c.speaker == Speaker::Customer => Signal::WantsBooking,
            Signal::Moved if offered && c.speaker == Speaker::Customer => Signal::WantsMove,
            Signal::Booked | Signal::Moved if offered => Signal::Offer,
            Signal::Offer if negated => Signal::Unavailable,
            Signal::Accept if negated => Signal::Reject,
            Signal::Cancelled | Signal::WantsCancel if negated => Signal::Neutral,
            Signal::WantsBooking | Signal::WantsMove | Signal::Hours | Signal::Pricing
                if negated =>
            {
                Signal::Neutral
            }
            s => s,
        };
        hits.push(Hit {
            signal,
            speaker: c.speaker,
            turn: c.turn,
            phrase: c.words[start..end].join(" "),
            context: context_of(&c.words, start, end),
            accepted_offer: false,
        });
    }
}

/// Reads at most [`MAX_TEXT`] bytes: the start and the end of a longer text.
pub(crate) fn bounded(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= MAX_TEXT {
        return text.into();
    }
    let half = MAX_TEXT / 2;
    let mut head = half;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - half;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    // Start the end part at a turn, so its first speaker is known.
    if let Some(nl) = text[tail..].find('\n') {
        tail += nl + 1;
    }
    format!("{}\n{}", &text[..head], &text[tail..]).into()
}

/// Classifies one text.
pub fn classify(kind: TextKind, text: &str) -> Verdict {
    let text = bounded(text);
    let clauses = clauses(kind, &text);
    if clauses.is_empty() {
        return Verdict {
            appointment_booked: None,
            call_reason: "OTHER",
            evidence: Vec::new(),
        };
    }
    let mut hits = Vec::new();
    for c in &clauses {
        clause_hits(c, &mut hits);
    }
    if kind == TextKind::Transcript {
        add_accepted_offers(&clauses, &mut hits);
    }
    decide(kind, &clauses, &hits)
}

/// In a transcript, the agent offering a time and the customer saying yes to it is a
/// booking, whatever words either used.
fn add_accepted_offers(clauses: &[Clause], hits: &mut Vec<Hit>) {
    let turns = clauses.last().map_or(0, |c| c.turn);
    let in_turn =
        |turn: usize, s: Signal, hits: &[Hit]| hits.iter().any(|h| h.turn == turn && h.signal == s);
    let turn_text = |turn: usize| {
        clauses
            .iter()
            .filter(|c| c.turn == turn)
            .map(|c| c.words.join(" "))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut accepted = Vec::new();
    for turn in 1..turns {
        let Some(speaker) = clauses.iter().find(|c| c.turn == turn).map(|c| c.speaker) else {
            continue;
        };
        let Some(next) = clauses.iter().find(|c| c.turn == turn + 1) else {
            continue;
        };
        if speaker != Speaker::Agent || next.speaker != Speaker::Customer {
            continue;
        }
        let offer_words = clauses
            .iter()
            .filter(|c| c.turn == turn)
            .any(|c| c.words.iter().any(|w| is_time(w)) && c.question);
        let offered = in_turn(turn, Signal::Offer, hits) || offer_words;
        let failed = in_turn(turn, Signal::Unavailable, hits);
        let yes = in_turn(turn + 1, Signal::Accept, hits);
        let no = [
            Signal::Reject,
            Signal::Deferred,
            Signal::NotBooked,
            Signal::Unavailable,
        ]
        .iter()
        .any(|s| in_turn(turn + 1, *s, hits));
        if offered && !failed && yes && !no {
            accepted.push(Hit {
                signal: Signal::Booked,
                speaker: Speaker::Customer,
                turn: turn + 1,
                phrase: "accepted the offered time".to_owned(),
                context: format!("{} — {}", turn_text(turn), turn_text(turn + 1)),
                accepted_offer: true,
            });
        }
    }
    for h in accepted {
        let at = hits
            .iter()
            .position(|x| x.turn > h.turn)
            .unwrap_or(hits.len());
        hits.insert(at, h);
    }
}

fn decide(kind: TextKind, clauses: &[Clause], hits: &[Hit]) -> Verdict {
    let mut evidence: Vec<String> = Vec::new();
    let mut note = |h: &Hit| {
        if !evidence.contains(&h.context) {
            evidence.push(h.context.clone());
        }
    };
    // What the caller wanted: the agent's questions ("would you like to reschedule?")
    // are not the caller's wishes.
    let caller = |h: &&Hit| h.speaker != Speaker::Agent;
    let any = |s: Signal| hits.iter().find(|h| h.signal == s);
    let caller_any = |s: Signal| hits.iter().filter(caller).find(|h| h.signal == s);

    if let Some(junk) = any(Signal::Junk) {
        note(junk);
        return Verdict {
            appointment_booked: Some(false),
            call_reason: "OTHER",
            evidence,
        };
    }

    let outcome = hits.iter().rev().find(|h| {
        matches!(
            h.signal,
            Signal::Booked
                | Signal::Moved
                | Signal::Unavailable
                | Signal::NotBooked
                | Signal::Deferred
                | Signal::Cancelled
                | Signal::WantsCancel
        )
    });
    let one_sided =
        kind == TextKind::Transcript && !clauses.iter().any(|c| c.speaker == Speaker::Agent);
    let wants_new = caller_any(Signal::WantsBooking);
    let wants_move = caller_any(Signal::WantsMove);
    let moved = any(Signal::Moved);
    let existing = caller_any(Signal::Existing);
    let other_topic = caller_any(Signal::Other);
    let accepted_offer = hits
        .iter()
        .any(|h| h.signal == Signal::Booked && h.accepted_offer);
    let mut booked = matches!(
        outcome.map(|h| h.signal),
        Some(Signal::Booked | Signal::Moved)
    );
    if booked && existing.is_some() && wants_new.is_none() && wants_move.is_none() {
        // "You're all set for the 14th" to a caller checking the time they had.
        booked = accepted_offer || moved.is_some();
    }
    if one_sided {
        booked = false;
    }
    if let Some(h) = outcome {
        note(h);
    }

    // Why they called: appointment work ahead of questions.
    let position = |target: &Hit| hits.iter().position(|h| std::ptr::eq(h, target));
    let cancel = caller_any(Signal::WantsCancel).or_else(|| any(Signal::Cancelled));
    let booked_after_cancel = cancel.is_some_and(|c| {
        let at = position(c).unwrap_or(usize::MAX);
        booked
            && hits
                .iter()
                .skip(at + 1)
                .any(|h| matches!(h.signal, Signal::Booked | Signal::Moved))
    });
    let reason = if let Some(h) = wants_move
        .or(moved)
        .or(if booked_after_cancel { cancel } else { None })
        .or(if booked && existing.is_some() && accepted_offer {
            existing
        } else {
            None
        }) {
        note(h);
        "MODIFY_APPOINTMENT"
    } else if let Some(h) = cancel {
        note(h);
        "CANCEL_APPOINTMENT"
    } else if let Some(h) = (booked.then_some(outcome).flatten())
        .or(wants_new)
        .or_else(|| any(Signal::Unavailable))
        .or_else(|| {
            hits.iter()
                .find(|h| h.signal == Signal::Offer && h.speaker == Speaker::Agent)
        })
        .or_else(|| {
            // A summary's "offered a time" or "no appointment was made" says booking was
            // on the table — unless the caller came with a question about hours or price.
            let asked = hits
                .iter()
                .filter(caller)
                .any(|h| matches!(h.signal, Signal::Hours | Signal::Pricing | Signal::Other));
            hits.iter().find(|h| {
                !asked
                    && h.speaker == Speaker::Narrator
                    && ((h.signal == Signal::Offer
                        && matches!(h.phrase.as_str(), "offered" | "earliest" | "first opening"))
                        || (h.signal == Signal::NotBooked
                            && (h.phrase.starts_with("no appointment")
                                || h.phrase.starts_with("no visit"))))
            })
        })
    {
        if (existing.is_some() || other_topic.is_some()) && !booked && wants_new.is_none() {
            "OTHER"
        } else {
            note(h);
            "SETUP_APPOINTMENT"
        }
    } else if let Some(h) = existing {
        note(h);
        "OTHER"
    } else if let Some(h) = hits
        .iter()
        .filter(caller)
        .find(|h| matches!(h.signal, Signal::Hours | Signal::Pricing | Signal::Other))
    {
        note(h);
        match h.signal {
            Signal::Hours => "GET_HOURS",
            Signal::Pricing => "GET_PRICING",
            _ => "OTHER",
        }
    } else {
        "OTHER"
    };
    Verdict {
        appointment_booked: Some(booked),
        call_reason: reason,
        evidence,
    }
}

/// One line of `switchboard classify --jsonl`.
#[derive(Debug, Deserialize)]
struct JsonlInput {
    id: serde_json::Value,
    kind: TextKind,
    text: String,
}

/// One answer line: the input's id first, then the verdict (or the error).
#[derive(Serialize)]
struct JsonlAnswer {
    id: serde_json::Value,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    verdict: Option<Verdict>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// `switchboard classify --jsonl`: one JSON object per input line
/// (`{"id", "kind": "summary"|"transcript", "text"}`), one answer per line in the same
/// order (`{"id", "appointmentBooked", "callReason", "evidence"}`). A line that is not
/// such an object is answered with `{"id": null, "error": …}` and the rest go on;
/// blank lines are skipped.
pub fn classify_jsonl(
    input: impl std::io::BufRead,
    mut output: impl std::io::Write,
) -> std::io::Result<usize> {
    let mut answered = 0;
    for line in input.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let answer = match serde_json::from_str::<JsonlInput>(&line) {
            Ok(item) => JsonlAnswer {
                id: item.id,
                verdict: Some(classify(item.kind, &item.text)),
                error: None,
            },
            Err(e) => JsonlAnswer {
                id: serde_json::Value::Null,
                verdict: None,
                error: Some(format!("not a classify input: {e}")),
            },
        };
        serde_json::to_writer(&mut output, &answer)?;
        output.write_all(b"\n")?;
        answered += 1;
    }
    output.flush()?;
    Ok(answered)
}

/// One labelled call of the measured set.
#[derive(Debug, Clone)]
pub struct Labelled {
    /// Its id in the file.
    pub id: String,
    /// Summary or transcript.
    pub kind: TextKind,
    /// The text.
    pub text: String,
    /// The right answer.
    pub booked: Option<bool>,
    /// The right reason.
    pub reason: String,
    /// One of the cases keyword matching gets wrong.
    pub hard: bool,
}

/// The tuning part of the labelled set.
pub const TUNING: &str = include_str!("../../data/classifier/tuning.txt");
/// The held-out part, never tuned on.
pub const HELD_OUT: &str = include_str!("../../data/classifier/heldout.txt");

/// Parses a labelled file (format in `data/classifier/README.md`).
pub fn parse_labelled(file: &str) -> Result<Vec<Labelled>, String> {
    let mut items: Vec<Labelled> = Vec::new();
    for (n, line) in file.lines().enumerate() {
        if let Some(head) = line.strip_prefix("== ") {
            let f: Vec<&str> = head.split_whitespace().collect();
            let [id, kind, booked, reason, _business, rest @ ..] = f.as_slice() else {
                return Err(format!("line {}: a header needs five fields", n + 1));
            };
            items.push(Labelled {
                id: (*id).to_owned(),
                kind: match *kind {
                    "summary" => TextKind::Summary,
                    "transcript" => TextKind::Transcript,
                    other => return Err(format!("line {}: unknown kind {other}", n + 1)),
                },
                text: String::new(),
                booked: match *booked {
                    "yes" => Some(true),
                    "no" => Some(false),
                    "null" => None,
                    other => return Err(format!("line {}: booked is {other}", n + 1)),
                },
                reason: (*reason).to_owned(),
                hard: rest.contains(&"hard"),
            });
        } else if let Some(item) = items.last_mut() {
            if !item.text.is_empty() {
                item.text.push('\n');
            }
            item.text.push_str(line);
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(text: &str) -> Verdict {
        classify(TextKind::Summary, text)
    }

    #[test]
    fn empty_text_is_not_analysed() {
        assert_eq!(summary("  \n ").appointment_booked, None);
    }

    #[test]
    fn negation_and_availability_are_not_bookings() {
        for text in [
            "The caller could not find a time to schedule a cleaning.",
            "The caller was not able to schedule because the office is fully booked.",
            "We're booked up until next month, sorry.",
        ] {
            let v = summary(text);
            assert_eq!(v.appointment_booked, Some(false), "{text}: {v:?}");
            assert_eq!(v.call_reason, "SETUP_APPOINTMENT", "{text}");
        }
    }

    #[test]
    fn bookings_without_the_word() {
        let v = classify(
            TextKind::Transcript,
            "Customer: My dog needs shots.\nAgent: How about Monday at 5?\nCustomer: Sounds good.",
        );
        assert_eq!(v.appointment_booked, Some(true), "{v:?}");
        assert!(
            v.evidence
                .iter()
                .any(|e| e.contains("how about monday") && e.contains("sounds good")),
            "{v:?}"
        );
        assert_eq!(
            summary("The agent got her in Thursday with Dr. Lee.").appointment_booked,
            Some(true)
        );
    }

    #[test]
    fn the_last_outcome_wins() {
        let v = summary(
            "The caller asked for Monday, which was fully booked, so the agent scheduled her for Tuesday at 9.",
        );
        assert_eq!(v.appointment_booked, Some(true), "{v:?}");
        let v = summary("The agent scheduled a visit, but the caller cancelled it.");
        assert_eq!(v.appointment_booked, Some(false), "{v:?}");
    }

    #[test]
    fn cancel_reschedule_and_confirm_differ() {
        assert_eq!(
            summary("The caller cancelled her appointment.").call_reason,
            "CANCEL_APPOINTMENT"
        );
        let moved = summary("The caller rescheduled her appointment to Friday.");
        assert_eq!(moved.call_reason, "MODIFY_APPOINTMENT");
        let confirm = summary("The caller called to confirm her appointment on Friday.");
        assert_eq!(
            (confirm.appointment_booked, confirm.call_reason),
            (Some(false), "OTHER")
        );
    }

    #[test]
    fn a_megabyte_is_read_on_a_bounded_part() {
        let text = format!(
            "Customer: I'd like to book.\n{}Agent: You're booked for Monday at 9.",
            "Customer: é and more words.\n".repeat(40_000)
        );
        let v = classify(TextKind::Transcript, &text);
        assert_eq!(v.appointment_booked, Some(true));
    }

    #[test]
    fn the_labelled_files_parse() {
        let tuning = parse_labelled(TUNING).expect("tuning parses");
        let held = parse_labelled(HELD_OUT).expect("held-out parses");
        assert!(tuning.len() + held.len() >= 300);
        assert!(
            tuning
                .iter()
                .chain(&held)
                .all(|i| super::super::CALL_REASONS.contains(&i.reason.as_str()))
        );
        let hard = tuning.iter().chain(&held).filter(|i| i.hard).count();
        assert!(hard * 2 >= tuning.len() + held.len());
    }

    /// `CLASSIFY_EXPLAIN=t026 cargo test -p switchboard explain -- --nocapture` prints
    /// what the classifier read in labelled calls (a tuning aid; passes when unset).
    #[test]
    fn explain() {
        let Ok(ids) = std::env::var("CLASSIFY_EXPLAIN") else {
            return;
        };
        let items = parse_labelled(TUNING).expect("tuning parses");
        for item in items.iter().filter(|i| ids.split(',').any(|id| id == i.id)) {
            let clauses = clauses(item.kind, &item.text);
            let mut hits = Vec::new();
            for c in &clauses {
                clause_hits(c, &mut hits);
            }
            if item.kind == TextKind::Transcript {
                add_accepted_offers(&clauses, &mut hits);
            }
            println!("{} {:?}", item.id, decide(item.kind, &clauses, &hits));
            for h in hits {
                println!(
                    "   {:?} {:?} t{} {:?}",
                    h.signal, h.speaker, h.turn, h.phrase
                );
            }
        }
    }

    #[test]
    fn jsonl_answers_every_line_in_order() {
        let input = concat!(
            r#"{"id": "a", "kind": "summary", "text": "The caller booked a cleaning for Monday at 9."}"#,
            "\n\nnot json\n",
            r#"{"id": 7, "kind": "transcript", "text": ""}"#,
            "\n"
        );
        let mut out = Vec::new();
        assert_eq!(classify_jsonl(input.as_bytes(), &mut out).expect("io"), 3);
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .expect("utf8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(lines[0]["id"], "a");
        assert_eq!(lines[0]["appointmentBooked"], true);
        assert_eq!(lines[0]["callReason"], "SETUP_APPOINTMENT");
        assert!(lines[1]["error"].is_string());
        assert_eq!(lines[2]["id"], 7);
        assert!(lines[2]["appointmentBooked"].is_null());
    }

    proptest::proptest! {
        #[test]
        fn any_text_classifies_without_panicking(text in "\\PC{0,400}") {
            let _ = classify(TextKind::Transcript, &text);
            let _ = classify(TextKind::Summary, &text);
        }
    }
}
