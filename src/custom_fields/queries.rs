//! Custom field definitions, the typed validation every entry path uses, the index rows
//! behind the `cf.` filters, and the clean-up when a definition changes or goes.

use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamp};
use serde_json::Value;

use super::model::*;
use crate::access::Actor;
use crate::audit::{self, AuditCtx};
use crate::db::schema::{custom_fields as cf, custom_values as cv};
use crate::db::{insert_batch, DbConnection};
use crate::error::{AppError, FieldErrors};
use crate::http::{new_id, now, Date};

/// The most definitions per entity and account.
const MAX_FIELDS: i64 = 100;
/// The longest text value (characters): it is indexed.
const MAX_TEXT: usize = 500;

/// The account's definitions for `entity`, in creation order.
pub fn definitions(conn: &mut DbConnection, account_id: &str, entity: Entity) -> Result<Vec<Field>, AppError> {
    let rows: Vec<FieldRow> = cf::table
        .filter(cf::account_id.eq(account_id))
        .filter(cf::entity.eq(entity.as_str()))
        .order(cf::id)
        .load(conn)?;
    Ok(rows.iter().map(FieldRow::field).collect())
}

pub fn list(
    conn: &mut DbConnection,
    actor: &Actor,
    entity: Option<Entity>,
    since: Option<chrono::NaiveDateTime>,
) -> Result<Vec<FieldRow>, AppError> {
    let mut q = cf::table.filter(cf::account_id.eq(actor.account_id().to_owned())).into_boxed();
    if let Some(e) = entity {
        q = q.filter(cf::entity.eq(e.as_str()));
    }
    if let Some(since) = since {
        q = q.filter(cf::updated_at.ge(since));
    }
    Ok(q.order(cf::id).limit(3 * MAX_FIELDS).load(conn)?)
}

pub fn find(conn: &mut DbConnection, actor: &Actor, id: &str) -> Result<FieldRow, AppError> {
    cf::table
        .filter(cf::account_id.eq(actor.account_id()))
        .filter(cf::id.eq(id))
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound)
}

fn check_options(kind: FieldType, options: &[String]) -> Result<(), AppError> {
    match (kind.has_options(), options.is_empty()) {
        (true, true) => Err(AppError::field("options", "a select or multi_select needs at least one option")),
        (false, false) => Err(AppError::field("options", "only select and multi_select fields take options")),
        _ => Ok(()),
    }
}

pub fn create(conn: &mut DbConnection, actor: &Actor, input: NewCustomField) -> Result<CustomFieldView, AppError> {
    actor.require_manager()?;
    check_options(input.field_type, &input.options)?;
    let count: i64 = cf::table
        .filter(cf::account_id.eq(actor.account_id()))
        .filter(cf::entity.eq(input.entity.as_str()))
        .count()
        .get_result(conn)?;
    if count >= MAX_FIELDS {
        return Err(AppError::field("entity", format!("at most {MAX_FIELDS} custom fields per entity")));
    }
    let taken: i64 = cf::table
        .filter(cf::account_id.eq(actor.account_id()))
        .filter(cf::entity.eq(input.entity.as_str()))
        .filter(cf::key.eq(&input.key))
        .count()
        .get_result(conn)?;
    if taken > 0 {
        return Err(AppError::Conflict(format!("A {} field with key `{}` exists.", input.entity.as_str(), input.key)));
    }
    let at = now();
    let row = FieldRow {
        id: new_id(),
        account_id: actor.account_id().to_owned(),
        entity: input.entity.as_str().into(),
        key: input.key,
        label: input.label.trim().to_owned(),
        field_type: input.field_type.as_str().into(),
        options: serde_json::to_string(&input.options).unwrap_or_else(|_| "[]".into()),
        required: input.required,
        version: 1,
        created_at: at,
        updated_at: at,
    };
    diesel::insert_into(cf::table).values(&row).execute(conn)?;
    let view = row.view();
    audit::record(conn, &AuditCtx::from(actor), "custom_field", &row.id, None, Some(&view))?;
    Ok(view)
}

/// Changes a definition's label, options or `required`; values using a removed option
/// are cleared in the same transaction.
pub fn update(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    expected: Option<i64>,
    patch: &CustomFieldPatch,
) -> Result<CustomFieldView, AppError> {
    actor.require_manager()?;
    crate::http::optimistic(expected, || {
        let before = find(conn, actor, id)?;
        crate::http::check_version(expected, before.version)?;
        let field = before.field();
        let mut next = before.clone();
        if let Some(label) = &patch.label {
            next.label = label.trim().to_owned();
        }
        if let Some(required) = patch.required {
            next.required = required;
        }
        let mut removed = Vec::new();
        if let Some(options) = &patch.options {
            check_options(field.kind, options)?;
            removed = field.options.iter().filter(|o| !options.contains(o)).cloned().collect();
            next.options = serde_json::to_string(options).unwrap_or_else(|_| "[]".into());
        }
        if (&next.label, next.required, &next.options) == (&before.label, before.required, &before.options) {
            return Ok(Some(before.view()));
        }
        next.version += 1;
        next.updated_at = now();
        let n = diesel::update(
            cf::table
                .filter(cf::id.eq(&before.id))
                .filter(cf::account_id.eq(actor.account_id()))
                .filter(cf::version.eq(before.version)),
        )
        .set((
            cf::label.eq(&next.label),
            cf::options.eq(&next.options),
            cf::required.eq(next.required),
            cf::version.eq(next.version),
            cf::updated_at.eq(next.updated_at),
        ))
        .execute(conn)?;
        if n == 0 {
            return Ok(None);
        }
        if !removed.is_empty() {
            drop_options(conn, actor, &before, &field, &removed)?;
        }
        let view = next.view();
        audit::record(conn, &AuditCtx::from(actor), "custom_field", &next.id, Some(&before.view()), Some(&view))?;
        Ok(Some(view))
    })
}

/// Deletes a definition and every value of it.
pub fn delete(conn: &mut DbConnection, actor: &Actor, id: &str) -> Result<(), AppError> {
    actor.require_manager()?;
    let row = find(conn, actor, id)?;
    let affected = strip_key(conn, actor, &row, None)?;
    diesel::delete(cv::table.filter(cv::field_id.eq(&row.id))).execute(conn)?;
    diesel::delete(cf::table.filter(cf::id.eq(&row.id)).filter(cf::account_id.eq(actor.account_id()))).execute(conn)?;
    tracing::info!(field = row.id, affected, "custom field deleted with its values");
    audit::record::<CustomFieldView>(conn, &AuditCtx::from(actor), "custom_field", &row.id, Some(&row.view()), None)
}

/// Removes `row`'s key from the JSON of every record that has a value for it (only those
/// whose value is one of `only`, when given), each with a new version: one `UPDATE` per
/// backend's JSON functions, driven by the `custom_values` index.
fn strip_key(
    conn: &mut DbConnection,
    actor: &Actor,
    row: &FieldRow,
    only: Option<&[String]>,
) -> Result<usize, AppError> {
    let table = match row.entity.as_str() {
        "deal" => "deals",
        "organization" => "organizations",
        _ => "contacts",
    };
    let values = serde_json::to_string(&only.unwrap_or(&[])).unwrap_or_else(|_| "[]".into());
    let which = if only.is_some() { "AND value_text IN (SELECT value FROM json_each($5))" } else { "AND $5 = $5" };
    // `key` matches ^[a-z][a-z0-9_]{0,39}$ (checked when it was created): safe in a path.
    let n = match conn {
        DbConnection::Pg(c) => {
            let which = which.replace("json_each($5)", "json_array_elements_text($5::json)");
            diesel::sql_query(format!(
                "UPDATE {table} SET custom_fields = (custom_fields::jsonb - $1)::text, version = version + 1, \
                 updated_at = $2 WHERE account_id = $3 AND id IN \
                 (SELECT entity_id FROM custom_values WHERE field_id = $4 {which})"
            ))
            .bind::<Text, _>(&row.key)
            .bind::<Timestamp, _>(now())
            .bind::<Text, _>(actor.account_id())
            .bind::<Text, _>(&row.id)
            .bind::<Text, _>(&values)
            .execute(c)?
        }
        DbConnection::Sqlite(c) => diesel::sql_query(format!(
            "UPDATE {table} SET custom_fields = json_remove(custom_fields, '$.' || $1), version = version + 1, \
             updated_at = $2 WHERE account_id = $3 AND id IN \
             (SELECT entity_id FROM custom_values WHERE field_id = $4 {which})"
        ))
        .bind::<Text, _>(&row.key)
        .bind::<Timestamp, _>(now())
        .bind::<Text, _>(actor.account_id())
        .bind::<Text, _>(&row.id)
        .bind::<Text, _>(&values)
        .execute(c)?,
    };
    Ok(n)
}

/// Options removed from a definition: a `select` value that used one is cleared; a
/// `multi_select` loses that option and keeps the others (rewritten row by row: option
/// removals are rare and touch the records that use them only).
fn drop_options(
    conn: &mut DbConnection,
    actor: &Actor,
    row: &FieldRow,
    field: &Field,
    removed: &[String],
) -> Result<(), AppError> {
    if field.kind == FieldType::Select {
        strip_key(conn, actor, row, Some(removed))?;
    } else {
        let ids: Vec<String> = cv::table
            .filter(cv::field_id.eq(&row.id))
            .filter(cv::value_text.eq_any(removed))
            .select(cv::entity_id)
            .distinct()
            .load(conn)?;
        for chunk in ids.chunks(500) {
            rewrite_multi(conn, actor, row, chunk, removed)?;
        }
    }
    diesel::delete(cv::table.filter(cv::field_id.eq(&row.id)).filter(cv::value_text.eq_any(removed))).execute(conn)?;
    Ok(())
}

macro_rules! rewrite_in {
    ($conn:expr, $table:ident, $account:expr, $ids:expr, $edit:expr) => {{
        use crate::db::schema::$table as t;
        let rows: Vec<(String, String)> = t::table
            .filter(t::account_id.eq($account))
            .filter(t::id.eq_any($ids))
            .select((t::id, t::custom_fields))
            .load($conn)?;
        for (id, text) in rows {
            diesel::update(t::table.filter(t::id.eq(&id)))
                .set((t::custom_fields.eq($edit(&text)), t::version.eq(t::version + 1), t::updated_at.eq(now())))
                .execute($conn)?;
        }
    }};
}

fn rewrite_multi(
    conn: &mut DbConnection,
    actor: &Actor,
    row: &FieldRow,
    ids: &[String],
    removed: &[String],
) -> Result<(), AppError> {
    let edit = |text: &str| {
        let mut values: Values = serde_json::from_str(text).unwrap_or_default();
        if let Some(Value::Array(items)) = values.get_mut(&row.key) {
            items.retain(|v| v.as_str().is_none_or(|s| !removed.iter().any(|r| r == s)));
        }
        Value::Object(values).to_string()
    };
    match row.entity.as_str() {
        "deal" => rewrite_in!(conn, deals, actor.account_id(), ids, edit),
        "organization" => rewrite_in!(conn, organizations, actor.account_id(), ids, edit),
        _ => rewrite_in!(conn, contacts, actor.account_id(), ids, edit),
    }
    Ok(())
}

/// Applies `input` (key -> value, `null` clears) to a record's `current` values, checking
/// each against its definition; `creating` also asks for every required field. Every
/// problem is one entry `custom_fields.<key>` of the 422.
pub fn apply(fields: &[Field], current: &Values, input: &Values, creating: bool) -> Result<Values, FieldErrors> {
    let mut out = current.clone();
    let mut errors = FieldErrors::new();
    for (key, value) in input {
        let name = format!("custom_fields.{key}");
        let Some(field) = fields.iter().find(|f| &f.key == key) else {
            errors.insert(name, vec!["is not a custom field of this entity".into()]);
            continue;
        };
        if value.is_null() {
            if field.required {
                errors.insert(name, vec!["is required and cannot be cleared".into()]);
            }
            out.remove(key);
            continue;
        }
        match check_value(field, value) {
            Ok(v) => {
                out.insert(key.clone(), v);
            }
            Err(message) => {
                errors.insert(name, vec![message]);
            }
        }
    }
    if creating {
        for field in fields.iter().filter(|f| f.required && !out.contains_key(&f.key)) {
            errors.entry(format!("custom_fields.{}", field.key)).or_insert_with(|| vec!["is required".into()]);
        }
    }
    // A record may hold keys of definitions since deleted only if something went wrong
    // elsewhere; they are dropped rather than kept unvalidated.
    out.retain(|k, _| fields.iter().any(|f| &f.key == k));
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// One value against its definition, normalised (`Err` is the message).
pub fn check_value(field: &Field, value: &Value) -> Result<Value, String> {
    let text = || value.as_str().ok_or_else(|| "must be a string".to_owned());
    match field.kind {
        FieldType::Text => {
            let t = text()?;
            if t.is_empty() || t.chars().count() > MAX_TEXT {
                return Err(format!("must be 1 to {MAX_TEXT} characters long (null clears it)"));
            }
            Ok(value.clone())
        }
        FieldType::Number => match value.as_f64() {
            Some(n) if value.is_number() && n.is_finite() => Ok(value.clone()),
            _ => Err("must be a number".into()),
        },
        FieldType::Date => Date::parse(text()?)
            .map(|d| Value::String(d.to_string()))
            .ok_or_else(|| "must be a date (YYYY-MM-DD)".into()),
        FieldType::Boolean => value.as_bool().map(Value::Bool).ok_or_else(|| "must be true or false".into()),
        FieldType::Select => {
            let t = text()?;
            if field.options.iter().any(|o| o == t) {
                Ok(value.clone())
            } else {
                Err(format!("must be one of {:?}", field.options))
            }
        }
        FieldType::MultiSelect => {
            let items = value.as_array().ok_or_else(|| "must be an array of options".to_owned())?;
            let mut picked: Vec<&str> = Vec::new();
            for item in items {
                match item.as_str() {
                    Some(s) if field.options.iter().any(|o| o == s) => {
                        if !picked.contains(&s) {
                            picked.push(s);
                        }
                    }
                    _ => return Err(format!("each item must be one of {:?}", field.options)),
                }
            }
            Ok(Value::Array(picked.into_iter().map(|s| Value::String(s.to_owned())).collect()))
        }
        FieldType::Url => {
            let t = text()?;
            let ok = t.len() <= 2000
                && t.parse::<actix_web::http::Uri>().is_ok_and(|u| {
                    matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some_and(|h| !h.is_empty())
                });
            if ok {
                Ok(value.clone())
            } else {
                Err("must be an http or https URL".into())
            }
        }
        FieldType::Email => {
            let t = text()?;
            if t.len() <= 254 && validator::ValidateEmail::validate_email(&t) {
                Ok(value.clone())
            } else {
                Err("must be a valid email address".into())
            }
        }
    }
}

/// The comparable form of one stored value (text lower-cased, numbers canonical).
fn index_text(kind: FieldType, value: &Value) -> Option<String> {
    match (kind, value) {
        (FieldType::Text | FieldType::Url | FieldType::Email, Value::String(s)) => Some(s.to_lowercase()),
        (FieldType::Number, Value::Number(n)) => n.as_f64().map(canonical_number),
        (FieldType::Boolean, Value::Bool(b)) => Some(b.to_string()),
        (_, Value::String(s)) => Some(s.clone()),
        _ => None,
    }
}

fn canonical_number(n: f64) -> String {
    if n == n.trunc() && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// The `custom_values` rows of one record.
pub fn index_rows(fields: &[Field], account_id: &str, entity_id: &str, values: &Values) -> Vec<ValueRow> {
    let mut rows = Vec::new();
    for field in fields {
        let Some(value) = values.get(&field.key) else { continue };
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        for item in items {
            if let Some(text) = index_text(field.kind, item) {
                rows.push(ValueRow {
                    field_id: field.id.clone(),
                    entity_id: entity_id.to_owned(),
                    account_id: account_id.to_owned(),
                    value_text: text,
                    value_number: if field.kind == FieldType::Number { item.as_f64() } else { None },
                });
            }
        }
    }
    rows
}

/// A new record's values (every required field asked for): the text to store and the
/// index rows to write once the record exists. A 422 names each bad `custom_fields.<key>`.
pub fn initial(
    conn: &mut DbConnection,
    account_id: &str,
    entity: Entity,
    entity_id: &str,
    input: &Values,
) -> Result<(String, Vec<ValueRow>), AppError> {
    let fields = definitions(conn, account_id, entity)?;
    let values = apply(&fields, &Values::new(), input, true).map_err(AppError::Validation)?;
    Ok((encode_values(&values), index_rows(&fields, account_id, entity_id, &values)))
}

/// A record's values after a PATCH's `custom_fields`: `None` when nothing changes, else the
/// text to store and the index rows that replace the record's (`replace_index`).
pub fn changed(
    conn: &mut DbConnection,
    account_id: &str,
    entity: Entity,
    entity_id: &str,
    stored: &str,
    input: &Values,
) -> Result<Option<(String, Vec<ValueRow>)>, AppError> {
    let fields = definitions(conn, account_id, entity)?;
    let current = parse_values(stored);
    let values = apply(&fields, &current, input, false).map_err(AppError::Validation)?;
    if values == current {
        return Ok(None);
    }
    Ok(Some((encode_values(&values), index_rows(&fields, account_id, entity_id, &values))))
}

/// Writes index rows of new records (multi-row statements).
pub fn insert_index(conn: &mut DbConnection, rows: &[ValueRow]) -> Result<(), AppError> {
    insert_batch!(conn, cv::table, rows)?;
    Ok(())
}

/// Replaces one record's index rows after its values changed.
pub fn replace_index(conn: &mut DbConnection, entity_id: &str, rows: &[ValueRow]) -> Result<(), AppError> {
    diesel::delete(cv::table.filter(cv::entity_id.eq(entity_id))).execute(conn)?;
    insert_index(conn, rows)
}

/// Removes the index rows of records being deleted.
pub fn forget(conn: &mut DbConnection, entity_ids: &[&str]) -> Result<(), AppError> {
    for chunk in entity_ids.chunks(500) {
        diesel::delete(cv::table.filter(cv::entity_id.eq_any(chunk))).execute(conn)?;
    }
    Ok(())
}

/// A record's stored values (`{}` when the column cannot be read as an object).
pub fn parse_values(text: &str) -> Values {
    serde_json::from_str(text).unwrap_or_default()
}

pub fn encode_values(values: &Values) -> String {
    Value::Object(values.clone()).to_string()
}

/// One `cf.` condition of a list query, as written: `cf.<key>`, `cf.<key>.gte`,
/// `cf.<key>.lte`.
#[derive(Debug, Clone)]
pub struct RawCondition {
    pub key: String,
    pub op: Op,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Gte,
    Lte,
}

/// The `cf.` parameters of a raw query string (the rest is the endpoint's own).
pub fn parse_conditions(raw: &str) -> Result<Vec<RawCondition>, AppError> {
    let mut out = Vec::new();
    for (name, value) in serde_urlencoded::from_str::<Vec<(String, String)>>(raw)
        .map_err(|e| AppError::BadRequest(format!("Malformed query string: {e}.")))?
    {
        let Some(rest) = name.strip_prefix("cf.") else { continue };
        let (key, op) = match rest.rsplit_once('.') {
            Some((k, "gte")) => (k, Op::Gte),
            Some((k, "lte")) => (k, Op::Lte),
            _ => (rest, Op::Eq),
        };
        if out.len() >= 20 {
            return Err(AppError::BadRequest("At most 20 `cf.` filters.".into()));
        }
        out.push(RawCondition { key: key.to_owned(), op, value });
    }
    Ok(out)
}

/// A `cf.` condition checked against the definitions: what `matching` turns into SQL.
#[derive(Debug, Clone)]
pub struct Condition {
    field_id: String,
    account_id: String,
    op: Op,
    text: String,
    number: Option<f64>,
}

/// Resolves `cf.` conditions for `entity` (an unknown key, a range on a type without order,
/// or a value of the wrong type is a 400 naming the parameter).
pub fn resolve(
    conn: &mut DbConnection,
    account_id: &str,
    entity: Entity,
    raw: &[RawCondition],
) -> Result<Vec<Condition>, AppError> {
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    let fields = definitions(conn, account_id, entity)?;
    raw.iter()
        .map(|c| {
            let bad = |why: &str| AppError::BadRequest(format!("Query parameter `cf.{}` {why}.", c.key));
            let field = fields.iter().find(|f| f.key == c.key).ok_or_else(|| bad("is not a custom field"))?;
            if c.op != Op::Eq && !field.kind.is_ordered() {
                return Err(bad("takes .gte/.lte only for number and date fields"));
            }
            let (text, number) = match field.kind {
                FieldType::Number => {
                    let n: f64 = c
                        .value
                        .trim()
                        .parse()
                        .ok()
                        .filter(|n: &f64| n.is_finite())
                        .ok_or_else(|| bad("must be a number"))?;
                    (canonical_number(n), Some(n))
                }
                FieldType::Date => {
                    (Date::parse(&c.value).ok_or_else(|| bad("must be a date (YYYY-MM-DD)"))?.to_string(), None)
                }
                FieldType::Boolean => match c.value.as_str() {
                    "true" | "false" => (c.value.clone(), None),
                    _ => return Err(bad("must be true or false")),
                },
                FieldType::Text | FieldType::Url | FieldType::Email => (c.value.to_lowercase(), None),
                FieldType::Select | FieldType::MultiSelect => (c.value.clone(), None),
            };
            Ok(Condition { field_id: field.id.clone(), account_id: account_id.to_owned(), op: c.op, text, number })
        })
        .collect()
}

/// `column IN (SELECT entity_id FROM custom_values WHERE <condition>)`: how a list keeps
/// the records that match one `cf.` condition (served by `custom_values_text_idx` or
/// `custom_values_number_idx`). Written by hand, like the contact scope's fragments, so it
/// composes into boxed queries on both backends.
pub fn matching<C>(column: C, condition: &Condition) -> Matching<C> {
    Matching { column, c: condition.clone() }
}

#[derive(Debug, Clone)]
pub struct Matching<C> {
    column: C,
    c: Condition,
}

impl<DB, C> diesel::query_builder::QueryFragment<DB> for Matching<C>
where
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<Text>
        + diesel::sql_types::HasSqlType<diesel::sql_types::Double>,
    String: diesel::serialize::ToSql<Text, DB>,
    f64: diesel::serialize::ToSql<diesel::sql_types::Double, DB>,
    C: diesel::query_builder::QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: diesel::query_builder::AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" IN (SELECT custom_values.entity_id FROM custom_values WHERE custom_values.account_id = ");
        out.push_bind_param::<Text, _>(&self.c.account_id)?;
        out.push_sql(" AND custom_values.field_id = ");
        out.push_bind_param::<Text, _>(&self.c.field_id)?;
        let (column, op) = match self.c.op {
            Op::Eq => ("value_text", " = "),
            Op::Gte if self.c.number.is_some() => ("value_number", " >= "),
            Op::Lte if self.c.number.is_some() => ("value_number", " <= "),
            Op::Gte => ("value_text", " >= "),
            Op::Lte => ("value_text", " <= "),
        };
        out.push_sql(" AND custom_values.");
        out.push_sql(column);
        out.push_sql(op);
        match (column, &self.c.number) {
            ("value_number", Some(n)) => out.push_bind_param::<diesel::sql_types::Double, _>(n)?,
            _ => out.push_bind_param::<Text, _>(&self.c.text)?,
        }
        out.push_sql(")");
        Ok(())
    }
}

impl<C> diesel::expression::Expression for Matching<C> {
    type SqlType = diesel::sql_types::Bool;
}
impl<QS, C: diesel::expression::AppearsOnTable<QS>> diesel::expression::AppearsOnTable<QS> for Matching<C> {}
impl<QS, C: diesel::expression::SelectableExpression<QS>> diesel::expression::SelectableExpression<QS> for Matching<C> {}
impl<GB, C> diesel::expression::ValidGrouping<GB> for Matching<C> {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}
impl<C> diesel::query_builder::QueryId for Matching<C> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}
