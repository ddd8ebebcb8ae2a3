SET LOCAL lock_timeout = '5s';
/* k12-lint: allow truncate because the import rows are rebuilt from the upload */
TRUNCATE import_rows;
