-- The staff member who placed an outbound call (softphone.rs), folded from its `placed` event.
ALTER TABLE calls ADD COLUMN user_id TEXT;
