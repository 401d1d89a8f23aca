--
-- Issue 16, item 8: after delete_user_data no audit row names the erased
-- id, however it is spelled: lower, upper or mixed case, with hyphens,
-- without (32 hex digits), or with them elsewhere, in resource_id or in
-- details (Clarification 8).  Rows naming another id are left alone.
-- In one transaction, rolled back: gdpr.sql counts the erasure records.
--
SET client_min_messages = warning;
BEGIN;

INSERT INTO sipcall.users (id, nextcloud_user_id)
VALUES ('a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d', 'spell_erased'),
       ('a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5e', 'spell_kept');

INSERT INTO sipcall.audit_logs (action, resource_id, details, "timestamp") VALUES
 ('spell_lower_rid',      'user:a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d', NULL, '2001-05-01 00:00+00'),
 ('spell_upper_rid',      'USER:A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D', NULL, '2001-05-01 00:00+00'),
 ('spell_mixed_rid',      'a1B2c3D4-e5F6-4a7B-8c9D-0e1F2a3B4c5D',      NULL, '2001-05-01 00:00+00'),
 ('spell_hex_rid',        'a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5d',          NULL, '2001-05-01 00:00+00'),
 ('spell_hex_upper_rid',  'A1B2C3D4E5F64A7B8C9D0E1F2A3B4C5D',          NULL, '2001-05-01 00:00+00'),
 ('spell_braces_rid',     '{a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d}',    NULL, '2001-05-01 00:00+00'),
 ('spell_odd_hyphens_rid','a1b2-c3d4-e5f6-4a7b-8c9d-0e1f-2a3b-4c5d',   NULL, '2001-05-01 00:00+00'),
 ('spell_lower_det',  NULL, '{"target": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"}', '2001-05-01 00:00+00'),
 ('spell_upper_det',  NULL, '{"target": "A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D"}', '2001-05-01 00:00+00'),
 ('spell_mixed_det',  NULL, '{"t": ["x", {"u": "A1b2C3d4-E5f6-4A7b-8C9d-0E1f2A3b4C5d"}]}', '2001-05-01 00:00+00'),
 ('spell_hex_det',    NULL, '{"target": "a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5d"}', '2001-05-01 00:00+00'),
 ('spell_hex_up_det', NULL, '{"target": "A1B2C3D4E5F64A7B8C9D0E1F2A3B4C5D"}', '2001-05-01 00:00+00'),
 ('spell_key_det',    NULL, '{"A1B2C3D4E5F64A7B8C9D0E1F2A3B4C5D": 1}', '2001-05-01 00:00+00'),
 ('spell_other_rid',  'user:a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5e',
                      '{"target": "A1B2C3D4E5F64A7B8C9D0E1F2A3B4C5E"}', '2001-05-01 00:00+00'),
 ('spell_none',       'session:42', '{"ok": true}', '2001-05-01 00:00+00');

SELECT sipcall.delete_user_data('a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d');

-- every spelling is gone, the rows themselves stay
SELECT action, resource_id, details FROM sipcall.audit_logs
 WHERE action LIKE 'spell\_%' ORDER BY action;
SELECT count(*) AS naming_the_id FROM sipcall.audit_logs
 WHERE translate(coalesce(resource_id, '') || coalesce(details::text, ''), 'ABCDEF-', 'abcdef')
       LIKE '%a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5d%';
SELECT details->'audit_logs_anonymized' AS scrubbed FROM sipcall.audit_logs
 WHERE action = 'gdpr_erasure' ORDER BY id DESC LIMIT 1;

ROLLBACK;
