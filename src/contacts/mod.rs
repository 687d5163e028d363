//! Contacts: the records SPEC §2 protects, and every path that reads or writes them.

pub mod bulk;
pub mod csv_io;
pub mod list;
pub mod model;
pub mod queries;
pub mod routes;
pub mod timeline;
