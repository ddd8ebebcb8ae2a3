SET LOCAL lock_timeout = '5s';
ALTER TABLE users ADD COLUMN seen_at timestamptz DEFAULT now();
ALTER TABLE users ADD COLUMN locale text DEFAULT 'en';
