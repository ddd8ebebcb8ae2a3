//! The rules: stable ids, what each catches and the safe alternative.

use std::fmt;

/// One rule. [`Rule::id`] is the stable name used in output, allow comments and the README.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    AddColumnVolatileDefault,
    AddColumnNotNullNoDefault,
    CreateIndexNotConcurrent,
    DropIndexNotConcurrent,
    ReindexNotConcurrent,
    ConcurrentlyInTransaction,
    AddForeignKeyValidated,
    AddCheckValidated,
    ValidateInSameTransaction,
    AlterColumnType,
    SetNotNull,
    RenameColumn,
    RenameTable,
    DropColumn,
    DropTable,
    MissingLockTimeout,
    VacuumFull,
    Cluster,
    Truncate,
    UniqueWithoutIndex,
    EnumAddValueInTransaction,
    NoTransactionMarkerMisplaced,
    AllowWithoutReason,
    AllowUnknownRule,
    UnusedAllow,
}

impl Rule {
    /// Every rule, in the order of the README table.
    pub const ALL: &'static [Rule] = &[
        Rule::AddColumnVolatileDefault,
        Rule::AddColumnNotNullNoDefault,
        Rule::CreateIndexNotConcurrent,
        Rule::DropIndexNotConcurrent,
        Rule::ReindexNotConcurrent,
        Rule::ConcurrentlyInTransaction,
        Rule::AddForeignKeyValidated,
        Rule::AddCheckValidated,
        Rule::ValidateInSameTransaction,
        Rule::AlterColumnType,
        Rule::SetNotNull,
        Rule::RenameColumn,
        Rule::RenameTable,
        Rule::DropColumn,
        Rule::DropTable,
        Rule::MissingLockTimeout,
        Rule::VacuumFull,
        Rule::Cluster,
        Rule::Truncate,
        Rule::UniqueWithoutIndex,
        Rule::EnumAddValueInTransaction,
        Rule::NoTransactionMarkerMisplaced,
        Rule::AllowWithoutReason,
        Rule::AllowUnknownRule,
        Rule::UnusedAllow,
    ];

    /// The stable id.
    pub fn id(self) -> &'static str {
        match self {
            Rule::AddColumnVolatileDefault => "add-column-volatile-default",
            Rule::AddColumnNotNullNoDefault => "add-column-not-null-no-default",
            Rule::CreateIndexNotConcurrent => "create-index-not-concurrent",
            Rule::DropIndexNotConcurrent => "drop-index-not-concurrent",
            Rule::ReindexNotConcurrent => "reindex-not-concurrent",
            Rule::ConcurrentlyInTransaction => "concurrently-in-transaction",
            Rule::AddForeignKeyValidated => "add-foreign-key-validated",
            Rule::AddCheckValidated => "add-check-validated",
            Rule::ValidateInSameTransaction => "validate-in-same-transaction",
            Rule::AlterColumnType => "alter-column-type",
            Rule::SetNotNull => "set-not-null",
            Rule::RenameColumn => "rename-column",
            Rule::RenameTable => "rename-table",
            Rule::DropColumn => "drop-column",
            Rule::DropTable => "drop-table",
            Rule::MissingLockTimeout => "missing-lock-timeout",
            Rule::VacuumFull => "vacuum-full",
            Rule::Cluster => "cluster",
            Rule::Truncate => "truncate",
            Rule::UniqueWithoutIndex => "unique-without-index",
            Rule::EnumAddValueInTransaction => "enum-add-value-in-transaction",
            Rule::NoTransactionMarkerMisplaced => "no-transaction-marker-misplaced",
            Rule::AllowWithoutReason => "allow-without-reason",
            Rule::AllowUnknownRule => "allow-unknown-rule",
            Rule::UnusedAllow => "unused-allow",
        }
    }

    /// The rule with this id.
    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.iter().copied().find(|r| r.id() == id)
    }

    /// What the rule catches (one line, for the README table and `--explain`).
    pub fn catches(self) -> &'static str {
        match self {
            Rule::AddColumnVolatileDefault => "`ADD COLUMN` whose default is volatile (`random()`, `gen_random_uuid()`, `clock_timestamp()`, `nextval`, a serial or identity type, a stored generated column, or a function the linter does not know to be stable): PostgreSQL rewrites the whole table under an ACCESS EXCLUSIVE lock",
            Rule::AddColumnNotNullNoDefault => "`ADD COLUMN ... NOT NULL` without a `DEFAULT` on an existing table: fails on a table with rows, and the running version's INSERTs that do not name the column start failing",
            Rule::CreateIndexNotConcurrent => "`CREATE INDEX` without `CONCURRENTLY` on an existing table: blocks every write to the table while the index builds",
            Rule::DropIndexNotConcurrent => "`DROP INDEX` without `CONCURRENTLY` on an index that existed before this file: takes an ACCESS EXCLUSIVE lock on its table",
            Rule::ReindexNotConcurrent => "`REINDEX` without `CONCURRENTLY`: blocks writes (and reads using the index) while it rebuilds",
            Rule::ConcurrentlyInTransaction => "`CREATE/DROP INDEX CONCURRENTLY` or `REINDEX CONCURRENTLY` where the runner executes it inside a transaction: a file without sqlx's `-- no-transaction` first line, an explicit `BEGIN`, or a `-- no-transaction` file with more than one statement (sent as one multi-statement query, which PostgreSQL runs as one implicit transaction); the migration fails",
            Rule::AddForeignKeyValidated => "a foreign key added to an existing table (or to a new table referencing nothing new, via `ADD COLUMN ... REFERENCES`) without `NOT VALID`: scans the table while holding SHARE ROW EXCLUSIVE locks on both tables",
            Rule::AddCheckValidated => "a `CHECK` constraint added to an existing table without `NOT VALID`: scans the whole table under an ACCESS EXCLUSIVE lock",
            Rule::ValidateInSameTransaction => "`VALIDATE CONSTRAINT` in the same transaction that added the constraint `NOT VALID`: the strong lock of the `ADD` is still held while the table is scanned, so `NOT VALID` bought nothing",
            Rule::AlterColumnType => "`ALTER COLUMN ... TYPE` on an existing table: most type changes rewrite the table and its indexes under an ACCESS EXCLUSIVE lock, and the running version may not understand the new type",
            Rule::SetNotNull => "`SET NOT NULL` on an existing table without a validated `CHECK (col IS NOT NULL)` seen earlier: scans the whole table under an ACCESS EXCLUSIVE lock",
            Rule::RenameColumn => "renaming a column: the running version still uses the old name",
            Rule::RenameTable => "renaming a table: the running version still uses the old name",
            Rule::DropColumn => "dropping a column of an existing table (flagged for review: the running version may still read it)",
            Rule::DropTable => "dropping a table that existed before this file (flagged for review: the running version may still use it)",
            Rule::MissingLockTimeout => "a statement that takes a strong lock on an existing table (ALTER TABLE, CREATE INDEX, CREATE TRIGGER/POLICY, a foreign key to an existing table, DROP, TRUNCATE, LOCK, ...) with no `SET [LOCAL] lock_timeout` before it in the file: it waits behind any long transaction while every query behind it waits too (a table already locked earlier in the same transaction is not reported again)",
            Rule::VacuumFull => "`VACUUM FULL`: rewrites the table under an ACCESS EXCLUSIVE lock",
            Rule::Cluster => "`CLUSTER`: rewrites the table under an ACCESS EXCLUSIVE lock",
            Rule::Truncate => "`TRUNCATE` of an existing table: deletes every row and takes an ACCESS EXCLUSIVE lock",
            Rule::UniqueWithoutIndex => "`ADD UNIQUE` / `ADD PRIMARY KEY` (table or column constraint) on an existing table without `USING INDEX`: builds the index while blocking writes",
            Rule::EnumAddValueInTransaction => "`ALTER TYPE ... ADD VALUE` inside a transaction: the new value cannot be used until the transaction commits (and before PostgreSQL 12 the statement fails)",
            Rule::NoTransactionMarkerMisplaced => "a `no-transaction` comment that sqlx does not honour: sqlx only reads `-- no-transaction` as the very first bytes of the file, so the file still runs in a transaction",
            Rule::AllowWithoutReason => "a `k12-lint: allow` comment without `because REASON`",
            Rule::AllowUnknownRule => "a `k12-lint: allow` comment naming a rule id that does not exist",
            Rule::UnusedAllow => "a `k12-lint: allow` comment for a rule that does not fire on the statement after it (stale allows hide future findings)",
        }
    }

    /// The safe alternative.
    pub fn suggestion(self) -> &'static str {
        match self {
            Rule::AddColumnVolatileDefault => "Add the column without a default (or with a constant one), backfill in batches, then SET DEFAULT; if the function is in fact stable or immutable, allow the statement with that reason.",
            Rule::AddColumnNotNullNoDefault => "Add the column with a constant DEFAULT (metadata-only since PostgreSQL 11), or add it nullable, backfill, add CHECK (col IS NOT NULL) NOT VALID, VALIDATE it in a later migration, then SET NOT NULL.",
            Rule::CreateIndexNotConcurrent => "Use CREATE INDEX CONCURRENTLY, alone in a migration file whose first line is `-- no-transaction`.",
            Rule::DropIndexNotConcurrent => "Use DROP INDEX CONCURRENTLY, alone in a migration file whose first line is `-- no-transaction`.",
            Rule::ReindexNotConcurrent => "Use REINDEX ... CONCURRENTLY, alone in a migration file whose first line is `-- no-transaction`.",
            Rule::ConcurrentlyInTransaction => "Move the statement alone into its own migration file whose first line is `-- no-transaction`.",
            Rule::AddForeignKeyValidated => "Add the constraint with NOT VALID, then VALIDATE CONSTRAINT in a later migration (validation takes only SHARE UPDATE EXCLUSIVE).",
            Rule::AddCheckValidated => "Add the constraint with NOT VALID, then VALIDATE CONSTRAINT in a later migration.",
            Rule::ValidateInSameTransaction => "Move VALIDATE CONSTRAINT into a later migration file.",
            Rule::AlterColumnType => "Expand-contract: add a new column of the new type, backfill, dual-write, switch reads, drop the old column later. (varchar(n) to text or a larger varchar does not rewrite: allow it with that reason.)",
            Rule::SetNotNull => "Add CHECK (col IS NOT NULL) NOT VALID, VALIDATE it in a later migration, then SET NOT NULL (PostgreSQL 12+ skips the scan) and drop the check.",
            Rule::RenameColumn => "Expand-contract: add the new column, backfill, dual-write, switch reads, drop the old one in a later release.",
            Rule::RenameTable => "Expand-contract: create the new table (or a view under the new name), dual-write, switch reads, drop the old one in a later release.",
            Rule::DropColumn => "Make sure no deployed release reads the column (stop using it one release earlier), then allow the statement with that reason.",
            Rule::DropTable => "Make sure no deployed release uses the table (stop using it one release earlier), then allow the statement with that reason.",
            Rule::MissingLockTimeout => "Start the file with `SET LOCAL lock_timeout = '5s';` (plain SET in a `-- no-transaction` file) so the migration fails fast instead of queueing the whole application behind its lock; retry it later.",
            Rule::VacuumFull => "Use pg_repack or leave it to autovacuum; never in a deploy migration.",
            Rule::Cluster => "Use pg_repack; never in a deploy migration.",
            Rule::Truncate => "Delete in batches, or allow the statement with the reason the table may be emptied.",
            Rule::UniqueWithoutIndex => "CREATE UNIQUE INDEX CONCURRENTLY in a `-- no-transaction` migration, then ADD CONSTRAINT ... UNIQUE USING INDEX (or PRIMARY KEY USING INDEX) in a later one.",
            Rule::EnumAddValueInTransaction => "Put ALTER TYPE ... ADD VALUE alone in a migration file whose first line is `-- no-transaction`.",
            Rule::NoTransactionMarkerMisplaced => "Make `-- no-transaction` the first line of the file, exactly, with nothing before it.",
            Rule::AllowWithoutReason => "Write `-- k12-lint: allow RULE because REASON`.",
            Rule::AllowUnknownRule => "Use one of the rule ids in the README table.",
            Rule::UnusedAllow => "Remove the allow comment (or move it right before the statement it is meant for).",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}
