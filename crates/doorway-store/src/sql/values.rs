//! Bound values, one type for both engines: the statements' binds are gathered as [`Value`]s
//! and bound by each engine's own driver (sqlx on PostgreSQL, rusqlite on SQLite).

/// One bound value; NULLs keep their type, which PostgreSQL needs.
pub(crate) enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Real(Option<f64>),
    Bool(Option<bool>),
    Blob(Option<Vec<u8>>),
}

macro_rules! value_from {
    ($variant:ident: $($t:ty => $f:expr),* $(,)?) => {
        $(impl From<$t> for Value {
            fn from(v: $t) -> Self {
                let f: fn($t) -> _ = $f;
                Value::$variant(f(v))
            }
        })*
    };
}

value_from!(Text:
    &str => |v| Some(v.to_owned()),
    &String => |v| Some(v.clone()),
    String => Some,
    Option<String> => |v| v,
    &Option<String> => Clone::clone,
    Option<&str> => |v| v.map(str::to_owned),
    Option<&String> => |v| v.cloned(),
);
value_from!(Int:
    i64 => Some,
    Option<i64> => |v| v,
    &i64 => |v| Some(*v),
);
value_from!(Real: Option<f64> => |v| v);
value_from!(Bool: bool => Some, &bool => |v| Some(*v));
value_from!(Blob: Vec<u8> => Some, &[u8] => |v| Some(v.to_vec()), &Vec<u8> => |v| Some(v.clone()));

/// Binds `values` in order to a sqlx query.
macro_rules! bind_values {
    ($query:expr, $values:expr) => {{
        let mut q = $query;
        for v in $values {
            q = match v {
                $crate::sql::values::Value::Text(t) => q.bind(t),
                $crate::sql::values::Value::Int(i) => q.bind(i),
                $crate::sql::values::Value::Real(r) => q.bind(r),
                $crate::sql::values::Value::Bool(b) => q.bind(b),
                $crate::sql::values::Value::Blob(b) => q.bind(b),
            };
        }
        q
    }};
}
pub(crate) use bind_values;

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Value::Text(t) => t.to_sql(),
            Value::Int(i) => i.to_sql(),
            Value::Real(r) => r.to_sql(),
            Value::Bool(b) => b.to_sql(),
            Value::Blob(b) => b.to_sql(),
        }
    }
}
