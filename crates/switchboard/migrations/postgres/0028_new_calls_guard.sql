-- The event writer sends a batch of new calls' first events (incoming-call webhooks) in
-- one round trip, folded as if none of the calls were stored yet, and checks that
-- guess with this function in the same transaction, after the calls' locks: it fails
-- the batch with SQLSTATE SB001 when one of the calls has a row or a deleted marker,
-- and the writer rolls back and writes the batch the usual way (see
-- calls/pg_batch.rs).
CREATE FUNCTION sb_calls_are_new(sids json) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM calls
               WHERE call_sid = ANY(ARRAY(SELECT json_array_elements_text(sids))))
       OR EXISTS (SELECT 1 FROM deleted_calls
                  WHERE call_sid = ANY(ARRAY(SELECT json_array_elements_text(sids)))) THEN
        RAISE EXCEPTION 'a call of the batch is stored already' USING ERRCODE = 'SB001';
    END IF;
END
$$;
