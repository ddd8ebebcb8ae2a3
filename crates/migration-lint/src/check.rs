//! The rules applied to one file's statements, in order, with what the file has done so
//! far (tables it created, lock_timeout, transaction state) and what earlier files did
//! (NOT NULL checks added and validated).

use std::collections::{HashMap, HashSet};

use pg_query::protobuf::{
    a_const, AlterTableCmd, AlterTableType, ColumnDef, ConstrType, Constraint, NullTestType,
    ObjectType, RangeVar, TransactionStmtKind, VariableSetKind,
};
use pg_query::{Node, NodeEnum, NodeRef};

use crate::rules::Rule;

/// What earlier files (in migration order) established.
#[derive(Debug, Default)]
pub struct History {
    /// `CHECK (col IS NOT NULL)` constraints by (table, constraint name) → column.
    not_null_checks: HashMap<(String, String), String>,
    /// (table, column) proven NOT NULL by a validated check constraint.
    validated_not_null: HashSet<(String, String)>,
}

/// How the runner executes the file.
#[derive(Debug, Clone, Copy)]
pub struct Wrapping {
    /// sqlx wraps the file in one transaction (no `-- no-transaction` first line).
    pub wrapped: bool,
    /// The file has more than one statement (sent as one simple query).
    pub multi_statement: bool,
}

/// State while walking one file.
pub struct FileCheck<'h> {
    history: &'h mut History,
    wrapping: Wrapping,
    explicit_tx: bool,
    tx_id: u32,
    session_timeout: bool,
    local_timeout: bool,
    new_tables: HashSet<String>,
    new_indexes: HashSet<String>,
    /// (table, constraint) added NOT VALID → the transaction it was added in.
    not_valid_added: HashMap<(String, String), u32>,
    /// Tables already locked in the current transaction (a second lock does not queue).
    locked: HashSet<String>,
}

type Hits = Vec<(Rule, String)>;

/// Functions known to be volatile: a default calling them rewrites the table.
const VOLATILE: &[&str] = &[
    "random",
    "random_normal",
    "setseed",
    "gen_random_uuid",
    "gen_random_bytes",
    "uuidv4",
    "uuidv7",
    "uuid_generate_v1",
    "uuid_generate_v1mc",
    "uuid_generate_v4",
    "clock_timestamp",
    "timeofday",
    "nextval",
    "txid_current",
    "pg_current_xact_id",
];

/// Functions known to be stable or immutable: a default calling them is evaluated once
/// and stored as a constant (PostgreSQL 11+), no rewrite.
const NOT_VOLATILE: &[&str] = &[
    "now",
    "statement_timestamp",
    "transaction_timestamp",
    "current_setting",
    "lower",
    "upper",
    "btrim",
    "length",
    "concat",
    "concat_ws",
    "md5",
    "encode",
    "decode",
    "abs",
    "round",
    "floor",
    "ceil",
    "date_trunc",
    "make_interval",
    "make_date",
    "make_timestamp",
    "make_timestamptz",
    "to_timestamp",
    "to_char",
    "to_jsonb",
    "to_json",
    "jsonb_build_object",
    "jsonb_build_array",
    "json_build_object",
    "json_build_array",
    "array_fill",
];

const SERIAL_TYPES: &[&str] = &[
    "serial",
    "serial2",
    "serial4",
    "serial8",
    "smallserial",
    "bigserial",
];

fn is(value: i32, e: impl Into<i32>) -> bool {
    value == e.into()
}

/// The name a relation is known by: `public.` is dropped so both spellings match.
fn rel_key(r: &RangeVar) -> String {
    if r.schemaname.is_empty() || r.schemaname == "public" {
        r.relname.clone()
    } else {
        format!("{}.{}", r.schemaname, r.relname)
    }
}

fn strings(items: &[Node]) -> Vec<String> {
    items
        .iter()
        .filter_map(|n| match &n.node {
            Some(NodeEnum::String(s)) => Some(s.sval.clone()),
            _ => None,
        })
        .collect()
}

fn names_key(mut names: Vec<String>) -> String {
    if names.len() > 1 && names[0] == "public" {
        names.remove(0);
    }
    names.join(".")
}

/// The qualified name in a DROP's object list entry.
fn object_names(n: &Node) -> Vec<String> {
    match &n.node {
        Some(NodeEnum::List(l)) => strings(&l.items),
        Some(NodeEnum::String(s)) => vec![s.sval.clone()],
        _ => Vec::new(),
    }
}

fn constraints(items: &[Node]) -> impl Iterator<Item = &Constraint> {
    items.iter().filter_map(|n| match &n.node {
        Some(NodeEnum::Constraint(c)) => Some(&**c),
        _ => None,
    })
}

fn function_name(names: &[Node]) -> String {
    strings(names).pop().unwrap_or_default().to_lowercase()
}

/// `Some(reason)` when evaluating `expr` once per row is needed (volatile or unknown).
fn volatile_call(expr: &NodeEnum) -> Option<String> {
    let mut calls = Vec::new();
    if let NodeEnum::FuncCall(f) = expr {
        calls.push(function_name(&f.funcname));
    }
    for (node, _, _, _) in expr.nodes() {
        if let NodeRef::FuncCall(f) = node {
            calls.push(function_name(&f.funcname));
        }
    }
    for name in calls {
        if VOLATILE.contains(&name.as_str()) {
            return Some(format!("`{name}()` is volatile"));
        }
        if !NOT_VOLATILE.contains(&name.as_str()) {
            return Some(format!(
                "the linter does not know `{name}()` to be stable or immutable"
            ));
        }
    }
    None
}

/// The column of `CHECK (col IS NOT NULL)`.
fn not_null_check_column(c: &Constraint) -> Option<String> {
    let Some(NodeEnum::NullTest(t)) = c.raw_expr.as_ref().and_then(|e| e.node.as_ref()) else {
        return None;
    };
    if !is(t.nulltesttype, NullTestType::IsNotNull) {
        return None;
    }
    match t.arg.as_ref().and_then(|a| a.node.as_ref()) {
        Some(NodeEnum::ColumnRef(r)) => strings(&r.fields).pop(),
        _ => None,
    }
}

/// A lock_timeout value that disables the timeout.
fn is_zero_timeout(args: &[Node]) -> bool {
    match args.first().and_then(|n| n.node.as_ref()) {
        Some(NodeEnum::AConst(c)) => match &c.val {
            Some(a_const::Val::Ival(i)) => i.ival == 0,
            Some(a_const::Val::Sval(s)) => {
                let v = s.sval.trim();
                let digits = v.trim_end_matches(|c: char| c.is_ascii_alphabetic()).trim();
                digits.parse::<f64>().is_ok_and(|x| x == 0.0)
            }
            Some(a_const::Val::Fval(f)) => f.fval.parse::<f64>().is_ok_and(|x| x == 0.0),
            _ => false,
        },
        _ => false,
    }
}

impl<'h> FileCheck<'h> {
    pub fn new(history: &'h mut History, wrapping: Wrapping) -> Self {
        FileCheck {
            history,
            wrapping,
            explicit_tx: false,
            tx_id: 0,
            session_timeout: false,
            local_timeout: false,
            new_tables: HashSet::new(),
            new_indexes: HashSet::new(),
            not_valid_added: HashMap::new(),
            locked: HashSet::new(),
        }
    }

    /// Whether a statement here runs inside a transaction block.
    fn in_transaction(&self) -> bool {
        self.wrapping.wrapped || self.explicit_tx || self.wrapping.multi_statement
    }

    fn timeout_set(&self) -> bool {
        self.session_timeout || (self.local_timeout && self.in_transaction())
    }

    fn is_new(&self, table: &str) -> bool {
        self.new_tables.contains(table)
    }

    /// The rules that fire on one statement.
    pub fn statement(&mut self, node: &NodeEnum) -> Hits {
        let mut hits = Hits::new();
        // Existing relations this statement takes a strong lock on.
        let mut locks: Vec<String> = Vec::new();
        match node {
            NodeEnum::CreateStmt(c) => {
                let table = c.relation.as_ref().map(rel_key).unwrap_or_default();
                for elt in &c.table_elts {
                    match &elt.node {
                        Some(NodeEnum::ColumnDef(col)) => {
                            self.references(constraints(&col.constraints), &table, &mut locks)
                        }
                        Some(NodeEnum::Constraint(con)) => {
                            self.references(std::iter::once(&**con), &table, &mut locks)
                        }
                        _ => {}
                    }
                }
                self.references(constraints(&c.constraints), &table, &mut locks);
                self.new_tables.insert(table);
            }
            NodeEnum::CreateTableAsStmt(c) => {
                if let Some(rel) = c.into.as_ref().and_then(|i| i.rel.as_ref()) {
                    self.new_tables.insert(rel_key(rel));
                }
            }
            NodeEnum::IndexStmt(i) => {
                let table = i.relation.as_ref().map(rel_key).unwrap_or_default();
                if i.concurrent {
                    self.concurrently(&mut hits, "CREATE INDEX CONCURRENTLY");
                } else if !self.is_new(&table) {
                    hits.push((
                        Rule::CreateIndexNotConcurrent,
                        format!(
                            "CREATE INDEX{} on the existing table `{table}` without CONCURRENTLY blocks writes to it while the index builds",
                            if i.idxname.is_empty() { String::new() } else { format!(" `{}`", i.idxname) }
                        ),
                    ));
                    locks.push(table);
                }
                if !i.idxname.is_empty() {
                    let schema = i
                        .relation
                        .as_ref()
                        .map(|r| r.schemaname.as_str())
                        .unwrap_or("");
                    self.new_indexes.insert(names_key(
                        [schema, i.idxname.as_str()]
                            .iter()
                            .filter(|s| !s.is_empty())
                            .map(|s| s.to_string())
                            .collect(),
                    ));
                }
            }
            NodeEnum::DropStmt(d) => self.drop(d, &mut hits, &mut locks),
            NodeEnum::RenameStmt(r) => {
                if let Some(rel) = &r.relation {
                    let table = rel_key(rel);
                    if !self.is_new(&table) {
                        if is(r.rename_type, ObjectType::ObjectColumn) {
                            hits.push((
                                Rule::RenameColumn,
                                format!(
                                    "renaming column `{}` of `{table}` to `{}` breaks the running version, which still uses the old name",
                                    r.subname, r.newname
                                ),
                            ));
                        } else if is(r.rename_type, ObjectType::ObjectTable) {
                            hits.push((
                                Rule::RenameTable,
                                format!(
                                    "renaming table `{table}` to `{}` breaks the running version, which still uses the old name",
                                    r.newname
                                ),
                            ));
                        }
                        locks.push(table);
                    }
                }
            }
            NodeEnum::AlterTableStmt(a) => {
                let table = a.relation.as_ref().map(rel_key).unwrap_or_default();
                let new = self.is_new(&table);
                for cmd in &a.cmds {
                    if let Some(NodeEnum::AlterTableCmd(cmd)) = &cmd.node {
                        self.alter_cmd(&table, new, cmd, &mut hits, &mut locks);
                    }
                }
                if !new {
                    locks.push(table);
                }
            }
            NodeEnum::TruncateStmt(t) => {
                for rel in &t.relations {
                    if let Some(NodeEnum::RangeVar(r)) = &rel.node {
                        let table = rel_key(r);
                        if !self.is_new(&table) {
                            hits.push((
                                Rule::Truncate,
                                format!("TRUNCATE deletes every row of the existing table `{table}` under an ACCESS EXCLUSIVE lock"),
                            ));
                            locks.push(table);
                        }
                    }
                }
            }
            NodeEnum::VacuumStmt(v) => {
                let full = v.is_vacuumcmd
                    && v.options.iter().any(|o| {
                        matches!(&o.node, Some(NodeEnum::DefElem(d)) if d.defname == "full"
                            && !matches!(d.arg.as_ref().and_then(|a| a.node.as_ref()),
                                Some(NodeEnum::Boolean(b)) if !b.boolval))
                    });
                if full {
                    let tables: Vec<String> = v
                        .rels
                        .iter()
                        .filter_map(|r| match &r.node {
                            Some(NodeEnum::VacuumRelation(vr)) => vr.relation.as_ref().map(rel_key),
                            _ => None,
                        })
                        .collect();
                    if tables.is_empty() || tables.iter().any(|t| !self.is_new(t)) {
                        let what = if tables.is_empty() {
                            "every table".to_string()
                        } else {
                            tables.join(", ")
                        };
                        hits.push((
                            Rule::VacuumFull,
                            format!("VACUUM FULL rewrites {what} under an ACCESS EXCLUSIVE lock"),
                        ));
                        locks.extend(tables.into_iter().filter(|t| !self.is_new(t)));
                    }
                }
            }
            NodeEnum::ClusterStmt(c) => {
                let table = c.relation.as_ref().map(rel_key);
                if !table.as_ref().is_some_and(|t| self.is_new(t)) {
                    hits.push((
                        Rule::Cluster,
                        format!(
                            "CLUSTER rewrites {} under an ACCESS EXCLUSIVE lock",
                            table
                                .as_deref()
                                .map(|t| format!("`{t}`"))
                                .unwrap_or_else(|| "every clustered table".into())
                        ),
                    ));
                    locks.extend(table);
                }
            }
            NodeEnum::ReindexStmt(r) => {
                let concurrent = r.params.iter().any(|p| {
                    matches!(&p.node, Some(NodeEnum::DefElem(d)) if d.defname == "concurrently"
                        && !matches!(d.arg.as_ref().and_then(|a| a.node.as_ref()),
                            Some(NodeEnum::Boolean(b)) if !b.boolval))
                });
                let target = r
                    .relation
                    .as_ref()
                    .map(rel_key)
                    .unwrap_or_else(|| r.name.clone());
                if concurrent {
                    self.concurrently(&mut hits, "REINDEX CONCURRENTLY");
                } else if !self.is_new(&target) && !self.new_indexes.contains(&target) {
                    hits.push((
                        Rule::ReindexNotConcurrent,
                        format!("REINDEX of `{target}` without CONCURRENTLY blocks writes while it rebuilds"),
                    ));
                    locks.push(target);
                }
            }
            NodeEnum::AlterEnumStmt(e)
                if !e.new_val.is_empty() && e.old_val.is_empty() && self.in_transaction() =>
            {
                hits.push((
                        Rule::EnumAddValueInTransaction,
                        format!(
                            "ALTER TYPE {} ADD VALUE '{}' runs inside a transaction{}: the value cannot be used until it commits",
                            names_key(strings(&e.type_name)),
                            e.new_val,
                            self.transaction_cause()
                        ),
                    ));
            }
            NodeEnum::VariableSetStmt(s)
                if s.name == "lock_timeout" || s.kind == VariableSetKind::VarResetAll as i32 =>
            {
                let on = if is(s.kind, VariableSetKind::VarSetValue) {
                    !is_zero_timeout(&s.args)
                } else {
                    false
                };
                if s.is_local {
                    self.local_timeout = on;
                } else {
                    self.session_timeout = on;
                    if !on {
                        self.local_timeout = false;
                    }
                }
            }
            NodeEnum::TransactionStmt(t) if !self.wrapping.wrapped => {
                if is(t.kind, TransactionStmtKind::TransStmtBegin)
                    || is(t.kind, TransactionStmtKind::TransStmtStart)
                {
                    self.explicit_tx = true;
                    self.tx_id += 1;
                    self.locked.clear();
                } else if is(t.kind, TransactionStmtKind::TransStmtCommit)
                    || is(t.kind, TransactionStmtKind::TransStmtRollback)
                {
                    self.explicit_tx = false;
                    self.local_timeout = false;
                    self.tx_id += 1;
                    self.locked.clear();
                }
            }
            NodeEnum::CreateTrigStmt(t) => {
                if let Some(rel) = &t.relation {
                    let table = rel_key(rel);
                    if !self.is_new(&table) {
                        locks.push(table);
                    }
                }
            }
            NodeEnum::CreatePolicyStmt(p) => {
                if let Some(rel) = &p.table {
                    let table = rel_key(rel);
                    if !self.is_new(&table) {
                        locks.push(table);
                    }
                }
            }
            NodeEnum::AlterPolicyStmt(p) => {
                if let Some(rel) = &p.table {
                    let table = rel_key(rel);
                    if !self.is_new(&table) {
                        locks.push(table);
                    }
                }
            }
            NodeEnum::LockStmt(l) => {
                for rel in &l.relations {
                    if let Some(NodeEnum::RangeVar(r)) = &rel.node {
                        let table = rel_key(r);
                        if !self.is_new(&table) {
                            locks.push(table);
                        }
                    }
                }
            }
            _ => {}
        }
        locks.sort();
        locks.dedup();
        if self.in_transaction() {
            locks.retain(|t| self.locked.insert(t.clone()));
        }
        if !locks.is_empty() && !self.timeout_set() {
            hits.push((
                Rule::MissingLockTimeout,
                format!(
                    "takes a strong lock on the existing table(s) {} with no lock_timeout set before it in this file",
                    locks.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        hits
    }

    fn transaction_cause(&self) -> &'static str {
        if self.wrapping.wrapped {
            " (sqlx wraps this file in a transaction: its first line is not `-- no-transaction`)"
        } else if self.explicit_tx {
            " (after an explicit BEGIN)"
        } else {
            " (this `-- no-transaction` file has several statements, which sqlx sends as one query that PostgreSQL runs as one implicit transaction)"
        }
    }

    fn concurrently(&self, hits: &mut Hits, what: &str) {
        if self.in_transaction() {
            hits.push((
                Rule::ConcurrentlyInTransaction,
                format!(
                    "{what} cannot run inside a transaction block{}; the migration fails",
                    self.transaction_cause()
                ),
            ));
        }
    }

    /// Foreign keys in `cons` that point at existing tables take a lock on them.
    fn references<'a>(
        &self,
        cons: impl Iterator<Item = &'a Constraint>,
        own_table: &str,
        locks: &mut Vec<String>,
    ) {
        for c in cons {
            if is(c.contype, ConstrType::ConstrForeign) {
                if let Some(pk) = &c.pktable {
                    let target = rel_key(pk);
                    if target != own_table && !self.is_new(&target) {
                        locks.push(target);
                    }
                }
            }
        }
    }

    fn drop(&mut self, d: &pg_query::protobuf::DropStmt, hits: &mut Hits, locks: &mut Vec<String>) {
        for obj in &d.objects {
            let names = object_names(obj);
            if names.is_empty() {
                continue;
            }
            if is(d.remove_type, ObjectType::ObjectIndex) {
                let index = names_key(names);
                if d.concurrent {
                    self.concurrently(hits, "DROP INDEX CONCURRENTLY");
                } else if !self.new_indexes.contains(&index) {
                    hits.push((
                        Rule::DropIndexNotConcurrent,
                        format!("DROP INDEX `{index}` without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on its table"),
                    ));
                    locks.push(index);
                }
            } else if is(d.remove_type, ObjectType::ObjectTable) {
                let table = names_key(names);
                if !self.is_new(&table) {
                    hits.push((
                        Rule::DropTable,
                        format!("DROP TABLE `{table}`: the running version may still use it"),
                    ));
                    locks.push(table);
                }
            } else if is(d.remove_type, ObjectType::ObjectTrigger)
                || is(d.remove_type, ObjectType::ObjectPolicy)
                || is(d.remove_type, ObjectType::ObjectRule)
            {
                // The object is [schema.]table.name: dropping it locks the table.
                let mut names = names;
                names.pop();
                let table = names_key(names);
                if !table.is_empty() && !self.is_new(&table) {
                    locks.push(table);
                }
            }
        }
    }

    fn alter_cmd(
        &mut self,
        table: &str,
        new: bool,
        cmd: &AlterTableCmd,
        hits: &mut Hits,
        locks: &mut Vec<String>,
    ) {
        let def = cmd.def.as_ref().and_then(|d| d.node.as_ref());
        let t = cmd.subtype;
        if is(t, AlterTableType::AtAddColumn) {
            if let Some(NodeEnum::ColumnDef(col)) = def {
                self.references(constraints(&col.constraints), table, locks);
                if !new {
                    self.add_column(table, col, hits);
                }
            }
        } else if is(t, AlterTableType::AtAddConstraint) {
            if let Some(NodeEnum::Constraint(c)) = def {
                self.references(std::iter::once(&**c), table, locks);
                self.add_constraint(table, new, c, hits);
            }
        } else if is(t, AlterTableType::AtValidateConstraint) {
            let key = (table.to_string(), cmd.name.clone());
            if self.not_valid_added.get(&key) == Some(&self.tx_id) && !new {
                hits.push((
                    Rule::ValidateInSameTransaction,
                    format!(
                        "VALIDATE CONSTRAINT `{}` on `{table}` runs in the same transaction that added it NOT VALID",
                        cmd.name
                    ),
                ));
            }
            if let Some(column) = self.history.not_null_checks.get(&key) {
                self.history
                    .validated_not_null
                    .insert((table.to_string(), column.clone()));
            }
        } else if new {
            // Everything below only matters for tables that already hold data.
        } else if is(t, AlterTableType::AtAlterColumnType) {
            let to = match def {
                Some(NodeEnum::ColumnDef(c)) => c
                    .type_name
                    .as_ref()
                    .map(|t| strings(&t.names).pop().unwrap_or_default())
                    .unwrap_or_default(),
                _ => String::new(),
            };
            hits.push((
                Rule::AlterColumnType,
                format!(
                    "changing the type of `{table}.{}`{} may rewrite the table under an ACCESS EXCLUSIVE lock and break the running version",
                    cmd.name,
                    if to.is_empty() { String::new() } else { format!(" to {to}") }
                ),
            ));
        } else if is(t, AlterTableType::AtSetNotNull) {
            if !self
                .history
                .validated_not_null
                .contains(&(table.to_string(), cmd.name.clone()))
            {
                hits.push((
                    Rule::SetNotNull,
                    format!(
                        "SET NOT NULL on `{table}.{}` scans the whole table under an ACCESS EXCLUSIVE lock (no validated CHECK ({} IS NOT NULL) seen before)",
                        cmd.name, cmd.name
                    ),
                ));
            }
        } else if is(t, AlterTableType::AtDropColumn) {
            hits.push((
                Rule::DropColumn,
                format!(
                    "dropping column `{table}.{}`: the running version may still read it",
                    cmd.name
                ),
            ));
        }
    }

    fn add_column(&mut self, table: &str, col: &ColumnDef, hits: &mut Hits) {
        let name = &col.colname;
        let type_name = col
            .type_name
            .as_ref()
            .map(|t| strings(&t.names).pop().unwrap_or_default().to_lowercase())
            .unwrap_or_default();
        let mut has_default = false;
        let mut not_null = col.is_not_null;
        let mut volatile: Option<String> = None;
        if SERIAL_TYPES.contains(&type_name.as_str()) {
            volatile = Some(format!(
                "the {type_name} type fills every row from a sequence"
            ));
        }
        for c in constraints(&col.constraints) {
            let ct = c.contype;
            if is(ct, ConstrType::ConstrDefault) {
                has_default = true;
                if let Some(why) = c
                    .raw_expr
                    .as_ref()
                    .and_then(|e| e.node.as_ref())
                    .and_then(volatile_call)
                {
                    volatile.get_or_insert(why);
                }
            } else if is(ct, ConstrType::ConstrNotnull) || is(ct, ConstrType::ConstrPrimary) {
                not_null = true;
            } else if is(ct, ConstrType::ConstrIdentity) {
                has_default = true;
                volatile.get_or_insert("an identity column fills every row from a sequence".into());
            } else if is(ct, ConstrType::ConstrGenerated) {
                has_default = true;
                if c.generated_kind != "v" {
                    volatile.get_or_insert(
                        "a stored generated column is computed for every row".into(),
                    );
                }
            }
            if is(ct, ConstrType::ConstrForeign) {
                hits.push((
                    Rule::AddForeignKeyValidated,
                    format!(
                        "ADD COLUMN `{table}.{name}` with REFERENCES validates the new foreign key at once (column constraints cannot be NOT VALID)"
                    ),
                ));
            } else if is(ct, ConstrType::ConstrCheck) {
                hits.push((
                    Rule::AddCheckValidated,
                    format!(
                        "ADD COLUMN `{table}.{name}` with a CHECK scans the table to validate it"
                    ),
                ));
            } else if is(ct, ConstrType::ConstrPrimary) || is(ct, ConstrType::ConstrUnique) {
                hits.push((
                    Rule::UniqueWithoutIndex,
                    format!("ADD COLUMN `{table}.{name}` with PRIMARY KEY/UNIQUE builds an index while blocking writes"),
                ));
            }
        }
        if let Some(why) = volatile {
            hits.push((
                Rule::AddColumnVolatileDefault,
                format!("ADD COLUMN `{table}.{name}` rewrites the table under an ACCESS EXCLUSIVE lock: {why}"),
            ));
        }
        if not_null && !has_default {
            hits.push((
                Rule::AddColumnNotNullNoDefault,
                format!("ADD COLUMN `{table}.{name}` NOT NULL without a DEFAULT fails on a table with rows and breaks the running version's INSERTs"),
            ));
        }
    }

    fn add_constraint(&mut self, table: &str, new: bool, c: &Constraint, hits: &mut Hits) {
        let ct = c.contype;
        let label = if c.conname.is_empty() {
            String::new()
        } else {
            format!(" `{}`", c.conname)
        };
        if c.skip_validation {
            self.not_valid_added
                .insert((table.to_string(), c.conname.clone()), self.tx_id);
        }
        if is(ct, ConstrType::ConstrCheck) {
            if let Some(column) = not_null_check_column(c) {
                if c.skip_validation {
                    self.history
                        .not_null_checks
                        .insert((table.to_string(), c.conname.clone()), column);
                } else {
                    self.history
                        .validated_not_null
                        .insert((table.to_string(), column));
                }
            }
        }
        if new {
            return;
        }
        if is(ct, ConstrType::ConstrForeign) && !c.skip_validation {
            hits.push((
                Rule::AddForeignKeyValidated,
                format!("foreign key{label} on `{table}` added without NOT VALID scans the table under SHARE ROW EXCLUSIVE locks on both tables"),
            ));
        } else if is(ct, ConstrType::ConstrCheck) && !c.skip_validation {
            hits.push((
                Rule::AddCheckValidated,
                format!("CHECK{label} on `{table}` added without NOT VALID scans the table under an ACCESS EXCLUSIVE lock"),
            ));
        } else if (is(ct, ConstrType::ConstrUnique) || is(ct, ConstrType::ConstrPrimary))
            && c.indexname.is_empty()
        {
            hits.push((
                Rule::UniqueWithoutIndex,
                format!("{}{label} on `{table}` without USING INDEX builds its index while blocking writes",
                    if is(ct, ConstrType::ConstrPrimary) { "PRIMARY KEY" } else { "UNIQUE" }),
            ));
        }
    }
}
