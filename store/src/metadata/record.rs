//! How the metadata store's values meet their rows, written once per type and used by every
//! query: a [`Record`] names its SELECT and reads one row back, an [`Insert`] names its INSERT and
//! binds its fields, and [`Select`] runs a SELECT of a record with a filter (one, optional, all or
//! one page). A type stored as one row of one table declares both with [`stored!`], listing its
//! columns once; each field's type says how it is stored ([`Column`]). Types read from joined
//! rows write their [`Record`] by hand. The `MetadataStore` helpers at the end write a record or
//! delete a row together with the change-log entry Operations nodes follow.

use std::marker::PhantomData;

use kaa_model::Role;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::error::BoxDynError;
use sqlx::query::Query;
use sqlx::{Any, Arguments, Encode, Executor, Row, Type};

use super::{
    DocumentKind, DocumentStatus, EventAction, EventClassKind, MetadataStore, Page, Paged,
    TopicKind, conflict, paged,
};
use crate::StoreError;

/// A statement with its parameters bound.
pub(super) type Statement = Query<'static, Any, AnyArguments>;

/// A value stored as one row (and, for some, joined rows): how it is selected and read back.
pub(super) trait Record: Sized {
    /// What a missing one is called in [`StoreError::NotFound`].
    const WHAT: &'static str;
    /// `SELECT <columns> FROM <table>[ <joins>]`, the columns in the order [`Record::from_row`]
    /// reads them; queries append their filter.
    const SELECT: &'static str;
    /// Reads one row of [`Record::SELECT`].
    fn from_row(row: &AnyRow) -> Result<Self, StoreError>;
}

/// A value the store inserts as one row.
pub(super) trait Insert {
    /// `INSERT INTO <table> (<columns>) VALUES (?, …)`.
    const INSERT: &'static str;
    /// What an insert refused by a unique or reference rule is a conflict over.
    const CONFLICT: &'static str;
    /// Binds the fields in the order of [`Insert::INSERT`]'s columns.
    fn bind(&self, insert: Statement) -> Statement;
}

/// How a field is stored in one column.
pub(super) trait Column: Sized {
    /// Reads the column at `index`.
    fn read(row: &AnyRow, index: usize) -> Result<Self, StoreError>;
    /// Binds the field as the statement's next parameter.
    fn bind(&self, statement: Statement) -> Statement;
}

/// Columns the driver reads and writes as they are.
macro_rules! plain_column {
    ($($type:ty),*) => {$(
        impl Column for $type {
            fn read(row: &AnyRow, index: usize) -> Result<Self, StoreError> {
                Ok(row.try_get(index)?)
            }
            fn bind(&self, statement: Statement) -> Statement {
                statement.bind(self)
            }
        }
    )*};
}

plain_column!(String, Option<String>, i64, Option<i64>);

/// Stored as 0 or 1: not every dialect has a boolean type.
impl Column for bool {
    fn read(row: &AnyRow, index: usize) -> Result<Self, StoreError> {
        Ok(row.try_get::<i64, _>(index)? != 0)
    }
    fn bind(&self, statement: Statement) -> Statement {
        statement.bind(i64::from(*self))
    }
}

/// Enumerations stored by name: `$parse` reads a name back (`None`: the row is corrupt, as
/// `$corrupt` says).
macro_rules! named_column {
    ($($type:ty: $parse:expr, $corrupt:literal;)*) => {$(
        impl Column for $type {
            fn read(row: &AnyRow, index: usize) -> Result<Self, StoreError> {
                let name: String = row.try_get(index)?;
                $parse(name.as_str()).ok_or(StoreError::Corrupt($corrupt))
            }
            fn bind(&self, statement: Statement) -> Statement {
                statement.bind(self.name())
            }
        }
    )*};
}

named_column! {
    Role: |name: &str| name.parse().ok(), "unknown role in users";
    TopicKind: TopicKind::parse, "unknown topic kind";
    EventClassKind: EventClassKind::parse, "unknown event class kind";
    EventAction: EventAction::parse, "unknown event action";
    DocumentKind: DocumentKind::parse, "unknown document kind";
    DocumentStatus: DocumentStatus::parse, "unknown document status";
}

/// Declares a struct stored as one row of `table`: its [`Record`] and [`Insert`], with one column
/// per listed field, named as the field, in the listed order; `default` fields are not stored
/// (they are filled from other rows). Columns are qualified with the table's name in the SELECT,
/// so filters may join other tables.
macro_rules! stored {
    (
        $type:ident in $table:literal,
        not found: $what:literal,
        conflict: $conflict:literal,
        columns: [$first:ident $(, $field:ident)* $(,)?]
        $(, default: [$($default:ident),* $(,)?])? $(,)?
    ) => {
        impl $crate::metadata::record::Record for $type {
            const WHAT: &'static str = $what;
            const SELECT: &'static str = concat!(
                "SELECT ", $table, ".", stringify!($first),
                $(", ", $table, ".", stringify!($field),)*
                " FROM ", $table
            );
            fn from_row(row: &sqlx::any::AnyRow) -> Result<Self, $crate::StoreError> {
                use $crate::metadata::record::Column;
                let mut index = 0..;
                let mut next = || index.next().unwrap_or_default();
                Ok($type {
                    $first: Column::read(row, next())?,
                    $($field: Column::read(row, next())?,)*
                    $($($default: Default::default(),)*)?
                })
            }
        }

        impl $crate::metadata::record::Insert for $type {
            const INSERT: &'static str = concat!(
                "INSERT INTO ", $table, " (", stringify!($first), $(", ", stringify!($field),)*
                ") VALUES (?", $($crate::metadata::record::stored!(@placeholder $field),)* ")"
            );
            const CONFLICT: &'static str = $conflict;
            fn bind(
                &self,
                insert: $crate::metadata::record::Statement,
            ) -> $crate::metadata::record::Statement {
                use $crate::metadata::record::Column;
                let insert = self.$first.bind(insert);
                $(let insert = self.$field.bind(insert);)*
                insert
            }
        }
    };
    (@placeholder $field:ident) => {
        ", ?"
    };
}

pub(super) use stored;

/// A SELECT of `T` with a filter and the parameters bound so far; run by one of its ends.
pub(super) struct Select<'s, T> {
    store: &'s MetadataStore,
    filter: &'static str,
    arguments: Result<AnyArguments, BoxDynError>,
    record: PhantomData<fn() -> T>,
}

impl<T: Record> Select<'_, T> {
    /// Binds the next `?` of the filter.
    pub(super) fn bind<'t, V: Encode<'t, Any> + Type<Any>>(mut self, value: V) -> Self {
        if let Ok(arguments) = &mut self.arguments
            && let Err(error) = arguments.add(value)
        {
            self.arguments = Err(error);
        }
        self
    }

    /// The statement, with `tail` after the filter; an argument that failed to encode fails it.
    fn statement(self, tail: &'static str) -> Result<Statement, StoreError> {
        let sql = format!("{} {}{tail}", T::SELECT, self.filter);
        let arguments = self.arguments.map_err(sqlx::Error::Encode)?;
        Ok(sqlx::query_with(self.store.db.statement(sql), arguments))
    }

    /// The record, if one matches.
    pub(super) async fn optional(self) -> Result<Option<T>, StoreError> {
        let pool = self.store.db.pool();
        let row = self.statement("")?.fetch_optional(pool).await?;
        row.map(|r| T::from_row(&r)).transpose()
    }

    /// The record; [`StoreError::NotFound`] if none matches.
    pub(super) async fn one(self) -> Result<T, StoreError> {
        self.optional().await?.ok_or(StoreError::NotFound(T::WHAT))
    }

    /// Every matching record.
    pub(super) async fn all(self) -> Result<Vec<T>, StoreError> {
        let pool = self.store.db.pool();
        let rows = self.statement("")?.fetch_all(pool).await?;
        rows.iter().map(T::from_row).collect()
    }

    /// One page of the matching records, in the filter's order.
    pub(super) async fn page(self, page: Page) -> Result<Paged<T>, StoreError> {
        let pool = self.store.db.pool();
        let rows = self
            .bind(page.limit + 1)
            .bind(page.offset)
            .statement(" LIMIT ? OFFSET ?")?
            .fetch_all(pool)
            .await?;
        Ok(paged(
            rows.iter().map(T::from_row).collect::<Result<_, _>>()?,
            page,
        ))
    }
}

/// Runs `statement` on `db` (the pool or a transaction); `Err(unchanged)` if it changed no row.
pub(super) async fn execute_changing<'c>(
    statement: Statement,
    db: impl Executor<'c, Database = Any>,
    unchanged: StoreError,
) -> Result<(), StoreError> {
    if statement.execute(db).await?.rows_affected() == 0 {
        return Err(unchanged);
    }
    Ok(())
}

impl MetadataStore {
    /// `T`'s SELECT followed by `filter` (a literal whose `?` the caller binds).
    pub(super) fn select<T: Record>(&self, filter: &'static str) -> Select<'_, T> {
        Select {
            store: self,
            filter,
            arguments: Ok(AnyArguments::default()),
            record: PhantomData,
        }
    }

    /// A statement of `text` (a literal) to bind and run.
    pub(super) fn statement(&self, text: &'static str) -> Statement {
        sqlx::query(self.db.statement(text))
    }

    /// Inserts `record` on `db`, the pool or a transaction.
    pub(super) async fn insert<'c, T: Insert>(
        &self,
        db: impl Executor<'c, Database = Any>,
        record: &T,
    ) -> Result<(), StoreError> {
        record
            .bind(self.statement(T::INSERT))
            .execute(db)
            .await
            .map_err(conflict(T::CONFLICT))?;
        Ok(())
    }

    /// Inserts `record` and logs it as `entity` `id` of application `app_id`, in one
    /// transaction; returns the change's sequence number.
    pub(super) async fn insert_logged<T: Insert>(
        &self,
        record: &T,
        app_id: &str,
        entity: &str,
        id: &str,
    ) -> Result<i64, StoreError> {
        let mut tx = self.db.pool().begin().await?;
        self.insert(&mut *tx, record).await?;
        let seq = self
            .log_change(&mut tx, app_id, entity, id, "insert")
            .await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// Runs `delete` and logs the deletion of `entity` `id` of application `app_id`, in one
    /// transaction; [`StoreError::NotFound`] naming `what` if it deleted nothing. Returns the
    /// change's sequence number.
    pub(super) async fn delete_logged(
        &self,
        delete: Statement,
        what: &'static str,
        app_id: &str,
        entity: &str,
        id: &str,
    ) -> Result<i64, StoreError> {
        let mut tx = self.db.pool().begin().await?;
        execute_changing(delete, &mut *tx, StoreError::NotFound(what)).await?;
        let seq = self
            .log_change(&mut tx, app_id, entity, id, "delete")
            .await?;
        tx.commit().await?;
        Ok(seq)
    }
}
