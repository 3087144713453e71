//! The [`RecordArchive`] role, which the Kafka backend does not have: records are produced to
//! the input topics by the log shipper, and a topic is exported with Kafka's own tools. Both
//! operations answer [`StoreError::Unsupported`].

use super::{KafkaStore, BACKEND};
use crate::record::{ExportCursor, ExportPage, ImportSummary, NewRecord};
use crate::{RecordArchive, StoreError};

impl RecordArchive for KafkaStore {
    fn import(&mut self, _: &str, _: &[NewRecord]) -> Result<ImportSummary, StoreError> {
        Err(StoreError::unsupported(BACKEND, "import"))
    }

    fn export_page(
        &mut self,
        _: Option<&str>,
        _: Option<ExportCursor>,
        _: usize,
    ) -> Result<ExportPage, StoreError> {
        Err(StoreError::unsupported(BACKEND, "export records"))
    }
}
