//! The schema `keyed` ordering computes footprints from (`order::footprint`): read from
//! a backend when the cluster starts and again after every transaction that held every
//! writer back (DDL is one), before it releases them.

use super::{Cluster, Consistency};

impl Cluster {
    /// `keyed`: reads the schema footprints are computed from, from the first active
    /// backend that gives it. With none, an empty catalog: every write then takes the
    /// global lock (safe, and serial) until the next refresh.
    pub(crate) async fn refresh_catalog(&self) {
        if self.order.consistency() != Consistency::Keyed {
            return;
        }
        for backend in self.active() {
            match backend.catalog().await {
                Ok(catalog) => {
                    tracing::debug!(
                        backend = backend.name(),
                        tables = catalog.len(),
                        "catalog read"
                    );
                    self.order.set_catalog(catalog);
                    return;
                }
                Err(e) => {
                    tracing::warn!(backend = backend.name(), error = %e, "could not read the catalog")
                }
            }
        }
        tracing::warn!(
            "no backend gave its catalog: keyed writes take the global lock until one does"
        );
        self.order.set_catalog(crate::backend::Catalog::default());
    }
}
