-- The staff member's own phone (users.rs): click-to-call rings it first, then bridges the customer.
ALTER TABLE users ADD COLUMN phone TEXT;
