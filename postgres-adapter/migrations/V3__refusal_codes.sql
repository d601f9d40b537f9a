-- credence PostgreSQL schema, version 3: one SQLSTATE per refusal.
--
-- The write path's statements refuse a unit inside the server — a claim that is already
-- stored, a guard that finds a head or line changed, an agent lock held elsewhere — by calling
-- this function, which raises `code` (a SQLSTATE of class KR, listed in the adapter's
-- `error::refusal`) with `message` unless `ok` is true. The client tells refusals apart by
-- their code alone.
CREATE FUNCTION credence_check(ok BOOLEAN, code TEXT, message TEXT) RETURNS INTEGER
LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message;
    END IF;
    RETURN 1;
END
$$;
