--! Shared corpus for `scripts/bench classify`: the same query strings are classified by
--! shakedown (crates/sql/examples/classify_bench.rs) and parsed by SQLGlot
--! (scripts/bench.d/classify_sqlglot.py).
--!
--! Format: one entry per query string as a client would send it in one Query message; entries
--! are separated by blank lines, so an entry may span lines and hold several statements.
--! Lines starting with `--!` are notes about the file and belong to no entry; any other
--! comment is part of the SQL being measured. Everything here is valid PostgreSQL 15 except
--! `DE/**/LETE FROM users`, a bypass attempt the server itself rejects.

--! ---- pgbench: the built-in scripts and its setup ------------------------------------------
SELECT abalance FROM pgbench_accounts WHERE aid = 48213;

UPDATE pgbench_accounts SET abalance = abalance + -2311 WHERE aid = 48213;

UPDATE pgbench_tellers SET tbalance = tbalance + -2311 WHERE tid = 37;

UPDATE pgbench_branches SET bbalance = bbalance + -2311 WHERE bid = 4;

INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (37, 4, 48213, -2311, CURRENT_TIMESTAMP);

BEGIN;

END;

SELECT abalance FROM pgbench_accounts WHERE aid = $1

UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2

INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)

select count(*) from pgbench_branches

vacuum analyze pgbench_branches

truncate pgbench_history

create table pgbench_history(tid int,bid int,aid    int,delta int,mtime timestamp,filler char(22))

create table pgbench_accounts(aid    int not null,bid int,abalance int,filler char(84)) with (fillfactor=100)

alter table pgbench_branches add primary key (bid)

select o.n, p.partstrat, pg_catalog.count(i.inhparent) from pg_catalog.pg_class as c join pg_catalog.pg_namespace as n on (n.oid = c.relnamespace) cross join lateral (select pg_catalog.array_position(pg_catalog.current_schemas(true), n.nspname)) as o(n) left join pg_catalog.pg_partitioned_table as p on (p.partrelid = c.oid) left join pg_catalog.pg_inherits as i on (c.oid = i.inhparent) where c.relname = 'pgbench_accounts' and o.n is not null group by 1, 2 order by 1 asc limit 1

--! ---- simple CRUD --------------------------------------------------------------------------
SELECT 1

SELECT * FROM users

SELECT id, email FROM users WHERE id = 42

select id, email from users where email = 'alice@example.com' limit 1

SELECT count(*) FROM orders WHERE status = 'open'

SELECT name, price FROM products WHERE price BETWEEN 10 AND 20 ORDER BY price DESC LIMIT 50 OFFSET 100

SELECT DISTINCT country FROM customers ORDER BY country

SELECT id FROM sessions WHERE expires_at < now() - interval '1 day'

SELECT * FROM events WHERE created_at >= '2024-01-01'::date AND kind IN ('login', 'logout', 'refresh')

SELECT id, payload->>'type' AS kind FROM webhooks WHERE payload @> '{"active": true}'::jsonb

SELECT id FROM documents WHERE title ILIKE '%report%' AND NOT archived

SELECT id, tags FROM posts WHERE 'rust' = ANY(tags)

SELECT coalesce(nickname, first_name || ' ' || last_name) AS display FROM people WHERE id = $1

SELECT CASE WHEN score >= 90 THEN 'A' WHEN score >= 80 THEN 'B' ELSE 'C' END AS grade FROM exam_results WHERE student_id = 7

SELECT date_trunc('hour', created_at) AS h, count(*) FROM page_views GROUP BY 1 ORDER BY 1

SELECT user_id, sum(amount) AS total FROM payments GROUP BY user_id HAVING sum(amount) > 1000

SELECT * FROM users WHERE deleted_at IS NULL AND (role = 'admin' OR role = 'owner')

SELECT id FROM jobs WHERE state = 'queued' ORDER BY priority DESC, id FOR UPDATE SKIP LOCKED LIMIT 10

SELECT now(), current_user, version()

SELECT generate_series(1, 10) AS n

INSERT INTO users (email, name) VALUES ('bob@example.com', 'Bob')

INSERT INTO users (email, name) VALUES ($1, $2) RETURNING id

INSERT INTO audit (actor, action, at) VALUES ('system', 'boot', now()), ('system', 'ready', now())

INSERT INTO tags (name) VALUES ('a'), ('b'), ('c') ON CONFLICT (name) DO NOTHING

INSERT INTO counters (key, value) VALUES ('hits', 1) ON CONFLICT (key) DO UPDATE SET value = counters.value + EXCLUDED.value

INSERT INTO archive_orders SELECT * FROM orders WHERE closed_at < now() - interval '1 year'

INSERT INTO settings (user_id, data) VALUES (9, '{"theme": "dark", "lang": "en"}'::jsonb)

UPDATE users SET name = 'Robert' WHERE id = 42

UPDATE users SET last_login = now(), login_count = login_count + 1 WHERE id = $1

UPDATE orders SET status = 'shipped', shipped_at = now() WHERE id = ANY($1::int[]) RETURNING id, status

UPDATE products SET price = price * 1.1 WHERE category_id = 3 AND price < 100

UPDATE accounts SET balance = balance - 100 WHERE id = 1

UPDATE users SET email = lower(email)

UPDATE inventory SET qty = qty - 1 WHERE sku = 'X-100' AND qty > 0

DELETE FROM sessions WHERE expires_at < now()

DELETE FROM users WHERE id = 42

DELETE FROM cart_items WHERE cart_id = $1 AND product_id = $2

DELETE FROM logs

DELETE FROM notifications WHERE read AND created_at < now() - interval '30 days' RETURNING id

DELETE FROM users WHERE 1 = 1

--! ---- joins --------------------------------------------------------------------------------
SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = 10

SELECT o.id, c.name, p.name FROM orders o INNER JOIN customers c ON c.id = o.customer_id INNER JOIN order_items oi ON oi.order_id = o.id INNER JOIN products p ON p.id = oi.product_id WHERE o.created_at > now() - interval '7 days'

SELECT u.id, count(p.id) FROM users u LEFT JOIN posts p ON p.author_id = u.id GROUP BY u.id

SELECT a.id, b.id FROM left_side a FULL OUTER JOIN right_side b USING (key)

SELECT * FROM employees e RIGHT JOIN departments d ON d.id = e.department_id

SELECT e.name, m.name AS manager FROM employees e LEFT JOIN employees m ON m.id = e.manager_id

SELECT c.name, s.size FROM colors c CROSS JOIN sizes s

SELECT * FROM orders NATURAL JOIN order_status

SELECT u.name, last_order.total FROM users u CROSS JOIN LATERAL (SELECT total FROM orders o WHERE o.user_id = u.id ORDER BY created_at DESC LIMIT 1) AS last_order

SELECT "Users"."Id", "Orders"."Total" FROM "public"."Users" JOIN "public"."Orders" ON "Orders"."UserId" = "Users"."Id"

SELECT s.name, t.name FROM sales.regions s JOIN hr.teams t ON t.region_id = s.id WHERE s.active

SELECT p.id, i.url FROM products p LEFT JOIN LATERAL unnest(p.image_urls) AS i(url) ON true

SELECT f.id FROM flights f JOIN airports a1 ON a1.code = f.origin JOIN airports a2 ON a2.code = f.destination WHERE a1.country <> a2.country

SELECT t1.a, t2.b, t3.c FROM t1, t2, t3 WHERE t1.id = t2.t1_id AND t2.id = t3.t2_id

SELECT DISTINCT ON (user_id) user_id, created_at, amount FROM payments p JOIN users u ON u.id = p.user_id ORDER BY user_id, created_at DESC

SELECT w.id, w.name, row_number() OVER (PARTITION BY w.team_id ORDER BY w.score DESC) AS rank FROM workers w JOIN teams t ON t.id = w.team_id

SELECT c.id, sum(oi.qty * oi.price) OVER (PARTITION BY c.id) FROM customers c JOIN orders o ON o.customer_id = c.id JOIN order_items oi ON oi.order_id = o.id

UPDATE orders o SET status = 'vip' FROM customers c WHERE c.id = o.customer_id AND c.tier = 'gold'

DELETE FROM order_items oi USING orders o WHERE oi.order_id = o.id AND o.status = 'cancelled'

SELECT u.email FROM users u JOIN _admin_credentials ac ON ac.user_id = u.id

SELECT u.id, u.password_hash FROM users u JOIN user_roles r ON r.user_id = u.id WHERE r.role = 'admin'

SELECT a.*, b.* FROM a JOIN b ON a.x = b.x AND a.y = b.y LEFT JOIN c ON c.z = b.z WHERE c.z IS NULL

--! ---- subqueries ---------------------------------------------------------------------------
SELECT * FROM users WHERE id IN (SELECT user_id FROM orders WHERE total > 500)

SELECT * FROM products p WHERE EXISTS (SELECT 1 FROM order_items oi WHERE oi.product_id = p.id)

SELECT * FROM products p WHERE NOT EXISTS (SELECT 1 FROM reviews r WHERE r.product_id = p.id)

SELECT name, (SELECT count(*) FROM orders o WHERE o.customer_id = c.id) AS n FROM customers c

SELECT avg(total) FROM (SELECT customer_id, sum(amount) AS total FROM payments GROUP BY customer_id) AS t

SELECT * FROM employees WHERE salary > (SELECT avg(salary) FROM employees)

SELECT id FROM accounts WHERE owner_id = (SELECT id FROM users WHERE email = 'x@example.com')

DELETE FROM users WHERE id IN (SELECT user_id FROM banned_users)

UPDATE products SET featured = true WHERE id IN (SELECT product_id FROM order_items GROUP BY product_id ORDER BY sum(qty) DESC LIMIT 10)

SELECT * FROM (SELECT * FROM (SELECT id, secret_key FROM _system_secrets) AS inner_q) AS outer_q

SELECT id FROM t WHERE x > ALL (SELECT x FROM u WHERE u.flag)

SELECT id FROM t WHERE x = ANY (SELECT x FROM u)

SELECT id FROM items WHERE (a, b) IN (SELECT a, b FROM pairs)

SELECT u.id FROM users u WHERE u.id NOT IN (SELECT DISTINCT author_id FROM posts WHERE author_id IS NOT NULL)

INSERT INTO stats (day, n) SELECT d, (SELECT count(*) FROM events e WHERE e.day = d) FROM generate_series('2024-01-01'::date, '2024-01-31'::date, interval '1 day') AS d

SELECT x FROM a UNION SELECT x FROM b

SELECT x FROM a UNION ALL SELECT x FROM b UNION ALL SELECT x FROM c ORDER BY x

SELECT id FROM a INTERSECT SELECT id FROM b

SELECT id FROM a EXCEPT SELECT id FROM b

SELECT * FROM users WHERE id IN (SELECT user_id FROM orders WHERE id IN (SELECT order_id FROM refunds WHERE amount > (SELECT avg(amount) FROM refunds)))

--! ---- CTEs, including data-modifying ones --------------------------------------------------
WITH recent AS (SELECT * FROM orders WHERE created_at > now() - interval '1 day') SELECT count(*) FROM recent

WITH a AS (SELECT id FROM users WHERE active), b AS (SELECT user_id FROM orders) SELECT a.id FROM a JOIN b ON b.user_id = a.id

WITH RECURSIVE tree AS (SELECT id, parent_id, 1 AS depth FROM categories WHERE parent_id IS NULL UNION ALL SELECT c.id, c.parent_id, t.depth + 1 FROM categories c JOIN tree t ON c.parent_id = t.id) SELECT * FROM tree

WITH RECURSIVE n(i) AS (VALUES (1) UNION ALL SELECT i + 1 FROM n WHERE i < 100) SELECT sum(i) FROM n

WITH deleted AS (DELETE FROM sessions WHERE expires_at < now() RETURNING id) SELECT count(*) FROM deleted

WITH gone AS (DELETE FROM users RETURNING *) INSERT INTO users_archive SELECT * FROM gone

WITH moved AS (DELETE FROM queue WHERE id = $1 RETURNING *) INSERT INTO processed SELECT * FROM moved

WITH upd AS (UPDATE accounts SET balance = balance + 10 WHERE id = 5 RETURNING id, balance) SELECT * FROM upd

WITH upd AS (UPDATE accounts SET balance = 0 RETURNING id) SELECT count(*) FROM upd

WITH ins AS (INSERT INTO orders (customer_id, total) VALUES (1, 99.5) RETURNING id) INSERT INTO order_items (order_id, product_id, qty) SELECT id, 7, 1 FROM ins

WITH t AS MATERIALIZED (SELECT * FROM big_table WHERE flag) SELECT * FROM t WHERE x > 1

WITH t AS NOT MATERIALIZED (SELECT id, name FROM people) SELECT name FROM t WHERE id = 3

WITH s AS (SELECT api_key FROM integrations) SELECT * FROM s

WITH x AS (SELECT * FROM "Sales"."Q1 Results") SELECT "Region", sum("Revenue") FROM x GROUP BY "Region"

WITH totals AS (SELECT customer_id, sum(total) AS t FROM orders GROUP BY customer_id), ranked AS (SELECT customer_id, t, rank() OVER (ORDER BY t DESC) AS r FROM totals) SELECT * FROM ranked WHERE r <= 10

WITH d AS (DELETE FROM audit_logs WHERE created_at < '2020-01-01' RETURNING id) SELECT count(*) FROM d

WITH src AS (SELECT id, qty FROM staging) UPDATE stock s SET qty = src.qty FROM src WHERE s.id = src.id

WITH cte AS (SELECT 1 AS one) DELETE FROM tmp_rows WHERE id IN (SELECT one FROM cte)

--! ---- DDL ----------------------------------------------------------------------------------
CREATE TABLE widgets (id bigserial PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())

CREATE TABLE IF NOT EXISTS app.events (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), kind text NOT NULL, body jsonb, CONSTRAINT kind_check CHECK (kind <> ''))

CREATE TEMP TABLE tmp_ids (id int)

CREATE TABLE order_items (order_id int REFERENCES orders(id) ON DELETE CASCADE, product_id int NOT NULL, qty int NOT NULL CHECK (qty > 0), PRIMARY KEY (order_id, product_id))

CREATE UNLOGGED TABLE cache_entries (k text PRIMARY KEY, v bytea)

CREATE TABLE measurements (city_id int NOT NULL, logdate date NOT NULL, peaktemp int) PARTITION BY RANGE (logdate)

CREATE TABLE users_copy AS SELECT * FROM users WHERE false

CREATE INDEX idx_orders_customer ON orders (customer_id)

CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_email_key ON users (lower(email))

CREATE INDEX ON events USING gin (body jsonb_path_ops)

CREATE VIEW active_users AS SELECT id, email FROM users WHERE deleted_at IS NULL

CREATE OR REPLACE VIEW order_totals AS SELECT o.id, sum(oi.qty * oi.price) AS total FROM orders o JOIN order_items oi ON oi.order_id = o.id GROUP BY o.id

CREATE MATERIALIZED VIEW daily_sales AS SELECT date_trunc('day', created_at) AS day, sum(total) FROM orders GROUP BY 1

CREATE SCHEMA IF NOT EXISTS reporting

CREATE SEQUENCE invoice_seq START 1000 INCREMENT 1

CREATE EXTENSION IF NOT EXISTS pgcrypto

CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')

CREATE OR REPLACE FUNCTION add_one(i integer) RETURNS integer AS $$ BEGIN RETURN i + 1; END; $$ LANGUAGE plpgsql

CREATE ROLE reporter LOGIN PASSWORD 'secret'

ALTER TABLE users ADD COLUMN phone text

ALTER TABLE users DROP COLUMN phone

ALTER TABLE users RENAME COLUMN name TO full_name

ALTER TABLE orders ALTER COLUMN total TYPE numeric(12, 2)

ALTER TABLE IF EXISTS public.orders ADD CONSTRAINT orders_total_positive CHECK (total >= 0)

ALTER TABLE accounts ALTER COLUMN balance SET DEFAULT 0

ALTER INDEX idx_orders_customer RENAME TO orders_customer_idx

ALTER ROLE reporter WITH SUPERUSER

DROP TABLE widgets

DROP TABLE IF EXISTS tmp_ids, cache_entries CASCADE

DROP INDEX CONCURRENTLY IF EXISTS users_email_key

DROP VIEW IF EXISTS active_users

DROP SCHEMA reporting CASCADE

DROP DATABASE IF EXISTS scratch

TRUNCATE TABLE orders, order_items RESTART IDENTITY CASCADE

TRUNCATE audit_logs

COMMENT ON TABLE users IS 'application users'

GRANT SELECT, INSERT ON orders TO app_user

GRANT ALL PRIVILEGES ON ALL TABLES IN SCHEMA public TO intruder

REVOKE INSERT ON orders FROM app_user

REFRESH MATERIALIZED VIEW CONCURRENTLY daily_sales

--! ---- transactions, session and utility statements -----------------------------------------
BEGIN ISOLATION LEVEL SERIALIZABLE

START TRANSACTION READ ONLY

COMMIT

ROLLBACK

SAVEPOINT before_cleanup

ROLLBACK TO SAVEPOINT before_cleanup

RELEASE SAVEPOINT before_cleanup

SET search_path TO app, public

SET LOCAL statement_timeout = '5s'

SET application_name = 'billing-worker'

RESET ALL

SHOW server_version

SHOW transaction_isolation

SELECT set_config('app.tenant_id', '42', false)

SELECT pg_advisory_lock(12345)

SELECT pg_sleep(0.1)

EXPLAIN SELECT * FROM orders WHERE customer_id = 5

EXPLAIN ANALYZE SELECT count(*) FROM orders

LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE

LISTEN order_events

NOTIFY order_events, 'order 42 shipped'

PREPARE get_user (int) AS SELECT * FROM users WHERE id = $1

EXECUTE get_user(42)

DEALLOCATE get_user

DECLARE c CURSOR FOR SELECT * FROM big_table

FETCH 100 FROM c

CLOSE c

COPY users (id, email) TO STDOUT WITH (FORMAT csv, HEADER true)

COPY staging FROM STDIN WITH (FORMAT csv)

VALUES (1, 'one'), (2, 'two')

ANALYZE orders

DISCARD ALL

--! ---- multi-statement strings ---------------------------------------------------------------
BEGIN; UPDATE accounts SET balance = balance - 50 WHERE id = 1; UPDATE accounts SET balance = balance + 50 WHERE id = 2; COMMIT;

SELECT 1; SELECT 2; SELECT 3

INSERT INTO logs (msg) VALUES ('start'); DELETE FROM logs; INSERT INTO logs (msg) VALUES ('end')

SET search_path TO app; SELECT * FROM settings WHERE key = 'mode'

BEGIN;
SELECT abalance FROM pgbench_accounts WHERE aid = 1;
UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = 1;
END;

SELECT id FROM users WHERE name = 'a;b'; SELECT 'still; one string'

CREATE TEMP TABLE t (x int); INSERT INTO t VALUES (1), (2); SELECT sum(x) FROM t; DROP TABLE t

SELECT * FROM products WHERE id = 1; DROP TABLE products

BEGIN; DELETE FROM order_items WHERE order_id = 9; DELETE FROM orders WHERE id = 9; COMMIT

SAVEPOINT s1; UPDATE users SET role = 'admin' WHERE id = 3; ROLLBACK TO SAVEPOINT s1

SELECT $tag$ a ; b $tag$ AS text; SELECT 2

SHOW search_path; SET statement_timeout = 0; SELECT count(*) FROM big_table

--! ---- comments, odd casing and quoting -----------------------------------------------------
-- fetch one user
SELECT id FROM users WHERE id = 1

SELECT /* inline */ id FROM users /* another */ WHERE id = 2

/* leading block comment */ DELETE FROM users WHERE id = 3

DE/**/LETE FROM users

SELECT id -- trailing comment with a ; semicolon
FROM users WHERE id = 4

/* outer /* nested */ still comment */ SELECT 5

sElEcT Id FrOm UsErS wHeRe Id = 6

DeLeTe FrOm "users" WhErE "id" = 7

SELECT "select", "from" FROM "where" WHERE "group" = 1

SELECT * FROM "My Schema"."My Table" WHERE "Some Column" = 'x'

UPDATE public."Users" SET "Email" = 'q@example.com' WHERE "Id" = 8

SELECT E'line\nbreak', 'it''s', $$dollar 'quoted'$$, U&'d\0061t\+000061'

-- comment only line
/* and a block */
SELECT count(*) FROM _audit_logs_backup

SELECT 1 -- DROP TABLE users

SELECT '/* not a comment */' AS s, '-- neither' AS t FROM dual_table

--! ---- ORM-generated ------------------------------------------------------------------------
SELECT "auth_user"."id", "auth_user"."password", "auth_user"."last_login", "auth_user"."is_superuser", "auth_user"."username", "auth_user"."email" FROM "auth_user" WHERE "auth_user"."username" = 'admin' LIMIT 21

SELECT "blog_post"."id", "blog_post"."title", "blog_post"."author_id" FROM "blog_post" INNER JOIN "auth_user" ON ("blog_post"."author_id" = "auth_user"."id") WHERE ("auth_user"."is_active" AND "blog_post"."published_at" <= '2024-05-01T00:00:00+00:00'::timestamptz) ORDER BY "blog_post"."published_at" DESC

INSERT INTO "blog_post" ("title", "body", "author_id", "published_at") VALUES ('Hello', 'World', 1, NULL) RETURNING "blog_post"."id"

UPDATE "blog_post" SET "title" = 'Hello again' WHERE "blog_post"."id" = 1

DELETE FROM "django_session" WHERE "django_session"."expire_date" < '2024-05-01T00:00:00+00:00'::timestamptz

SELECT users.id AS users_id, users.name AS users_name, users.email AS users_email FROM users WHERE users.id = 5

SELECT addresses.id AS addresses_id, addresses.email_address AS addresses_email_address, addresses.user_id AS addresses_user_id FROM addresses WHERE $1 = addresses.user_id

INSERT INTO users (name, email) VALUES ($1, $2) RETURNING users.id

SELECT "users".* FROM "users" WHERE "users"."id" = $1 LIMIT $2

SELECT COUNT(*) FROM "orders" WHERE "orders"."user_id" = $1 AND "orders"."state" IN ($2, $3, $4)

SELECT "products".* FROM "products" WHERE "products"."deleted_at" IS NULL ORDER BY "products"."created_at" DESC LIMIT $1 OFFSET $2

UPDATE "users" SET "updated_at" = $1, "sign_in_count" = $2 WHERE "users"."id" = $3

SELECT t.typname, t.oid FROM pg_type t JOIN pg_namespace ns ON typnamespace = ns.oid WHERE typname = 'hstore'

SELECT a.attname, format_type(a.atttypid, a.atttypmod), pg_get_expr(d.adbin, d.adrelid), a.attnotnull FROM pg_attribute a LEFT JOIN pg_attrdef d ON a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE a.attrelid = '"users"'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum

SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'

--! ---- reporting and analytics --------------------------------------------------------------
SELECT region, product, sum(amount) FROM sales GROUP BY ROLLUP (region, product)

SELECT region, sum(amount) FILTER (WHERE year = 2024) AS y2024, sum(amount) FILTER (WHERE year = 2023) AS y2023 FROM sales GROUP BY region

SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) FROM requests WHERE at > now() - interval '5 minutes'

SELECT user_id, lag(amount) OVER w, lead(amount) OVER w FROM payments WINDOW w AS (PARTITION BY user_id ORDER BY created_at)

SELECT string_agg(name, ', ' ORDER BY name) FROM tags WHERE post_id = 3

SELECT array_agg(DISTINCT category) FROM products

SELECT jsonb_build_object('id', id, 'name', name) FROM users WHERE id < 100

SELECT id, extract(epoch FROM (ended_at - started_at)) AS seconds FROM runs

SELECT to_char(created_at, 'YYYY-MM') AS month, count(*) FROM signups GROUP BY month ORDER BY month

SELECT x::text, y::numeric(10, 2), CAST(z AS bigint) FROM conversions

SELECT * FROM crosstab_source TABLESAMPLE SYSTEM (10)

SELECT greatest(a, b, c), least(a, b, c), nullif(a, 0) FROM triples

SELECT id FROM docs WHERE to_tsvector('english', body) @@ plainto_tsquery('english', 'chaos engineering')

SELECT id, geom FROM places ORDER BY id OFFSET 5 ROWS FETCH FIRST 5 ROWS ONLY
