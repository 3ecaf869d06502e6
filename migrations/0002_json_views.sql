-- 0002: the JSON shapes of API.md, built where the rows are so that a
-- handler answers with one round trip and no copying field by field.

-- user_json(): migrations/functions/json.sql

-- message_status(): migrations/functions/json.sql

-- message_json(): migrations/functions/json.sql

-- message_visible(): migrations/functions/json.sql
