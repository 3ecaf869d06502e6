-- Traces (lib/trace.h): a message keeps the W3C traceparent of the API
-- request that sent it, so that the stages after it (moderation, release,
-- each delivery, each stream event) continue that one trace.
ALTER TABLE messages ADD COLUMN traceparent text;
-- send_message() takes it as p_trace (migrations/functions/send.sql); the
-- signatures without it go, or a call would match two functions
DROP FUNCTION IF EXISTS send_message(uuid, uuid, uuid, text, text, uuid, text);
DROP FUNCTION IF EXISTS send_message(uuid, uuid, uuid, text, text, uuid, text, text[]);
