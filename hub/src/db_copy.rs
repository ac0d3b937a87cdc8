//! `lectern-hub db copy --from <sqlite url> --to <postgres url>`: moves a hub's SQLite database into
//! PostgreSQL when it outgrows one machine (docs/cluster.md). Both are migrated first and must then
//! have the same migrations; the destination must be empty. Every table the destination has is
//! copied in foreign-key order, in one transaction (all or nothing), each value converted to the
//! destination column's type; identity sequences then continue after the largest id copied.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, bail};
use lectern_admin::db::{Dialect, Pool, redact_url};
use sqlx::any::{AnyRow, AnyTypeInfoKind};
use sqlx::{Row, TypeInfo as _, ValueRef as _};

use crate::store::Store;

/// Rows read from SQLite and written to PostgreSQL at a time.
const BATCH_ROWS: i64 = 500;

/// One copied table and its row count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub table: String,
    pub rows: u64,
}

/// A column of the destination, and whether it draws from a sequence (identity or serial).
#[derive(Debug, Clone)]
struct Column {
    name: String,
    ty: ColumnType,
    sequence: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColumnType {
    Int,
    Bool,
    Text,
    Bytes,
    Float,
}

impl ColumnType {
    fn of_pg(data_type: &str) -> anyhow::Result<Self> {
        Ok(match data_type {
            "bigint" | "integer" | "smallint" => ColumnType::Int,
            "boolean" => ColumnType::Bool,
            "text" | "character varying" | "character" => ColumnType::Text,
            "bytea" => ColumnType::Bytes,
            "double precision" | "real" => ColumnType::Float,
            other => bail!("columns of type {other} cannot be copied"),
        })
    }
}

/// A value on its way, typed as the destination column.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Int(Option<i64>),
    Bool(Option<bool>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
    Float(Option<f64>),
}

/// Copies every table from the SQLite database at `from` into the empty PostgreSQL one at `to`.
pub async fn copy(from: &str, to: &str) -> anyhow::Result<Vec<Copied>> {
    let (from_shown, to_shown) = (redact_url(from), redact_url(to));
    if Dialect::of_url(from).map_err(anyhow::Error::msg)? != Dialect::Sqlite {
        bail!("--from: {from_shown} is not an SQLite database (sqlite://<path>)");
    }
    if Dialect::of_url(to).map_err(anyhow::Error::msg)? != Dialect::Postgres {
        bail!("--to: {to_shown} is not a PostgreSQL database (postgres://user@host/db)");
    }
    let src = Store::connect(from).await.with_context(|| format!("--from {from_shown}"))?;
    let dst = Store::connect(to).await.with_context(|| format!("--to {to_shown}"))?;
    let (a, b) = (migrations(src.pool()).await?, migrations(dst.pool()).await?);
    if a != b {
        let only_src: Vec<_> = a.difference(&b).collect();
        let only_dst: Vec<_> = b.difference(&a).collect();
        bail!(
            "the databases are at different migrations (only in --from: {only_src:?}, only in --to: {only_dst:?}): \
             run both with the same lectern-hub"
        );
    }
    let tables = tables_in_dependency_order(dst.pool()).await?;
    let mut tx = dst.pool().begin().await?;
    for t in &tables {
        let any: Option<i64> = sqlx::query_scalar(&format!("SELECT 1 FROM {} LIMIT 1", ident(t)))
            .fetch_optional(&mut *tx)
            .await
            .with_context(|| format!("reading {t} in --to"))?;
        if any.is_some() {
            bail!("--to: table {t} already has rows; copy only into an empty database (a new one, migrated)");
        }
    }
    let mut copied = Vec::new();
    for t in &tables {
        let columns = columns(&mut tx, t).await?;
        let rows = copy_table(src.pool(), &mut tx, t, &columns).await.with_context(|| format!("copying table {t}"))?;
        for c in columns.iter().filter(|c| c.sequence) {
            // The next id drawn follows the largest one copied (or 1 for an empty table).
            let sql = format!(
                "SELECT setval(pg_get_serial_sequence($1, $2), COALESCE((SELECT MAX({col}) FROM {tab}), 0) + 1, false)",
                col = ident(&c.name),
                tab = ident(t)
            );
            sqlx::query(&sql)
                .bind(ident(t))
                .bind(&c.name)
                .execute(&mut *tx)
                .await
                .with_context(|| format!("moving the sequence of {t}.{}", c.name))?;
        }
        copied.push(Copied { table: t.clone(), rows });
    }
    tx.commit().await.context("committing the copy")?;
    Ok(copied)
}

/// The versions of the migrations a database has applied.
async fn migrations(pool: &Pool) -> anyhow::Result<BTreeSet<i64>> {
    let v: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
        .fetch_all(pool)
        .await
        .context("reading the applied migrations")?;
    Ok(v.into_iter().collect())
}

/// The destination's tables (but sqlx's own), every table after those it refers to.
async fn tables_in_dependency_order(pool: &Pool) -> anyhow::Result<Vec<String>> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname <> '_sqlx_migrations' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .context("listing the tables")?;
    let edges: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, r.relname::text FROM pg_constraint k \
         JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class r ON r.oid = k.confrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE k.contype = 'f' AND n.nspname = current_schema()",
    )
    .fetch_all(pool)
    .await
    .context("listing the foreign keys")?;
    order_by_dependencies(tables, &edges)
}

/// Kahn's order (alphabetical among equals, so runs repeat): a table comes after every table it
/// refers to; a table referring to itself is fine, a cycle is an error.
fn order_by_dependencies(tables: Vec<String>, edges: &[(String, String)]) -> anyhow::Result<Vec<String>> {
    let mut needs: BTreeMap<&str, BTreeSet<&str>> = tables.iter().map(|t| (t.as_str(), BTreeSet::new())).collect();
    for (child, parent) in edges {
        if child != parent
            && let Some(n) = needs.get_mut(child.as_str())
        {
            n.insert(parent.as_str());
        }
    }
    let mut order: Vec<String> = Vec::with_capacity(tables.len());
    while !needs.is_empty() {
        let ready: Vec<&str> = needs.iter().filter(|(_, n)| n.is_empty()).map(|(t, _)| *t).collect();
        if ready.is_empty() {
            bail!("the foreign keys between {:?} form a cycle", needs.keys().collect::<Vec<_>>());
        }
        for t in ready {
            needs.remove(t);
            for n in needs.values_mut() {
                n.remove(t);
            }
            order.push(t.to_owned());
        }
    }
    Ok(order)
}

async fn columns(conn: &mut lectern_admin::db::Conn, table: &str) -> anyhow::Result<Vec<Column>> {
    let rows: Vec<(String, String, bool)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text, \
         (is_identity = 'YES' OR COALESCE(column_default, '') LIKE 'nextval(%') \
         FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 \
         ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await
    .with_context(|| format!("reading the columns of {table}"))?;
    rows.into_iter()
        .map(|(name, ty, sequence)| {
            let ty = ColumnType::of_pg(&ty).with_context(|| format!("{table}.{name}"))?;
            Ok(Column { name, ty, sequence })
        })
        .collect()
}

/// Copies one table in batches by SQLite's rowid; its row count.
async fn copy_table(
    src: &Pool,
    dst: &mut lectern_admin::db::Conn,
    table: &str,
    columns: &[Column],
) -> anyhow::Result<u64> {
    let names: Vec<String> = columns.iter().map(|c| ident(&c.name)).collect();
    let select = format!(
        "SELECT rowid, {} FROM {} WHERE rowid > $1 ORDER BY rowid LIMIT {BATCH_ROWS}",
        names.join(", "),
        ident(table)
    );
    let (mut after, mut total) = (i64::MIN, 0u64);
    loop {
        let rows: Vec<AnyRow> = sqlx::query(&select).bind(after).fetch_all(src).await.context("reading from --from")?;
        let Some(last) = rows.last() else { return Ok(total) };
        after = last.try_get(0)?;
        let mut values = Vec::with_capacity(rows.len() * columns.len());
        for row in &rows {
            for (i, c) in columns.iter().enumerate() {
                values.push(convert(row, i + 1, c.ty).with_context(|| format!("column {}", c.name))?);
            }
        }
        let placeholders: Vec<String> = (0..rows.len())
            .map(|r| {
                let row: Vec<String> = (1..=columns.len()).map(|c| format!("${}", r * columns.len() + c)).collect();
                format!("({})", row.join(", "))
            })
            .collect();
        let insert = format!("INSERT INTO {} ({}) VALUES {}", ident(table), names.join(", "), placeholders.join(", "));
        let mut q = sqlx::query(&insert);
        for v in values {
            q = match v {
                Value::Int(v) => q.bind(v),
                Value::Bool(v) => q.bind(v),
                Value::Text(v) => q.bind(v),
                Value::Bytes(v) => q.bind(v),
                Value::Float(v) => q.bind(v),
            };
        }
        q.execute(&mut *dst).await.context("writing to --to")?;
        total += rows.len() as u64;
    }
}

/// SQLite's value at `i`, as the destination's type (SQLite keeps any value in any column: an
/// integer in a text column becomes its digits; text where a number belongs is an error).
fn convert(row: &AnyRow, i: usize, ty: ColumnType) -> anyhow::Result<Value> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(match ty {
            ColumnType::Int => Value::Int(None),
            ColumnType::Bool => Value::Bool(None),
            ColumnType::Text => Value::Text(None),
            ColumnType::Bytes => Value::Bytes(None),
            ColumnType::Float => Value::Float(None),
        });
    }
    let kind = raw.type_info().kind();
    let name = raw.type_info().name().to_owned();
    let is_int = kind.is_integer();
    Ok(match ty {
        ColumnType::Int if is_int => Value::Int(Some(row.try_get(i)?)),
        ColumnType::Bool if is_int => Value::Bool(Some(row.try_get::<i64, _>(i)? != 0)),
        ColumnType::Text if kind == AnyTypeInfoKind::Text => Value::Text(Some(row.try_get(i)?)),
        ColumnType::Text if is_int => Value::Text(Some(row.try_get::<i64, _>(i)?.to_string())),
        ColumnType::Text if kind == AnyTypeInfoKind::Double => Value::Text(Some(row.try_get::<f64, _>(i)?.to_string())),
        ColumnType::Bytes if kind == AnyTypeInfoKind::Blob => Value::Bytes(Some(row.try_get(i)?)),
        ColumnType::Bytes if kind == AnyTypeInfoKind::Text => {
            Value::Bytes(Some(row.try_get::<String, _>(i)?.into_bytes()))
        }
        ColumnType::Float if is_int => Value::Float(Some(row.try_get::<i64, _>(i)? as f64)),
        ColumnType::Float if kind == AnyTypeInfoKind::Double => Value::Float(Some(row.try_get(i)?)),
        _ => bail!("a value of type {name} where {ty:?} belongs"),
    })
}

/// A table or column name from the destination's catalog, quoted.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_come_after_the_tables_they_refer_to() {
        let tables = ["sessions", "rooms", "admin_rooms", "admin_schedules", "admin_lesson_exceptions", "ota_windows"];
        let edges = [
            ("sessions", "rooms"),
            ("admin_schedules", "admin_rooms"),
            ("admin_lesson_exceptions", "admin_schedules"),
            ("admin_lesson_exceptions", "admin_rooms"),
            ("ota_windows", "ota_windows"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()));
        let order = order_by_dependencies(tables.map(str::to_owned).to_vec(), &edges).unwrap();
        assert_eq!(
            order,
            ["admin_rooms", "ota_windows", "rooms", "admin_schedules", "sessions", "admin_lesson_exceptions"]
        );
        let cycle = [("a", "b"), ("b", "a")].map(|(a, b)| (a.to_owned(), b.to_owned()));
        let err = order_by_dependencies(vec!["a".into(), "b".into()], &cycle).unwrap_err();
        assert!(err.to_string().contains("cycle"), "{err}");
    }

    #[test]
    fn names_are_quoted_as_identifiers() {
        assert_eq!(ident("admin_rooms"), "\"admin_rooms\"");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
    }
}
