//! Handing a held record to its stage once there is room: the graph
//! stage's queue for span batches, the release stage's for deployment
//! events. The offset is stored only after the hand-off, and only while the
//! partition is still ours (for merged span records: per record, see
//! [`super::merge`]).

use tracing::error;

use super::{Held, Item, KafkaError, Permit, RecordResult, Worker};
use crate::ingest::deploy;

impl Worker {
    /// Waits for room in the queue `item` goes to.
    pub(super) async fn reserve(&self, item: &Item) -> Result<Permit<'_>, KafkaError> {
        match item {
            Item::Merged(..) => self
                .output
                .reserve()
                .await
                .map(Permit::Spans)
                .map_err(|_| KafkaError::OutputClosed),
            Item::Deployment(_) => self
                .deployments
                .reserve()
                .await
                .map(Permit::Deployment)
                .map_err(|_| KafkaError::DeploymentsClosed),
            Item::Incident(..) => match &self.incidents {
                Some(incidents) => incidents
                    .reserve()
                    .await
                    .map(Permit::Incident)
                    .map_err(|_| KafkaError::IncidentsClosed),
                None => Err(KafkaError::IncidentsClosed),
            },
        }
    }

    pub(super) fn hand_off(&self, permit: Permit<'_>, held: Held) {
        let (permit, held) = match (permit, held.item) {
            (Permit::Spans(permit), Item::Merged(merged)) => {
                // Ownership may have changed while waiting (polls ran).
                let merged = self.without_revoked(merged);
                if !merged.batch.is_empty() {
                    permit.send(merged.batch);
                    self.count_batch();
                }
                self.merged_handed_off(&merged.parts);
                return;
            }
            (permit, item) => (permit, Held { item, ..held }),
        };
        // Rebalances run only inside `recv`, so ownership cannot change
        // between this check and the store below.
        if self.shared.partitions().epoch(&held.topic, held.partition) != Some(held.epoch) {
            self.shared
                .metrics
                .record(&held.topic, RecordResult::Revoked);
            return;
        }
        match (permit, held.item) {
            (Permit::Deployment(permit), Item::Deployment(event)) => {
                permit.send(event);
                self.deploy_metrics()
                    .events(deploy::Source::Kafka, deploy::Outcome::Accepted, 1);
            }
            (Permit::Incident(permit), Item::Incident(incident, format)) => {
                permit.send(incident);
                self.incident_accepted(format);
            }
            // `reserve` picks the queue from the item: cannot happen.
            _ => {
                error!(topic = %held.topic, partition = held.partition, offset = held.offset,
                    "held record and reserved queue differ; the record will be consumed again");
                return;
            }
        }
        held.metrics.handed_off.inc();
        self.store_now(&held.topic, held.partition, held.offset, held.epoch);
    }
}
