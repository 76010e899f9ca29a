//! Messages a sink could not store because of their content, reported back to the engine
//! (which dead-letters them) and logged here.

use iggy_connectors_sdk::ConsumeOutcome;

/// One refused message: its offset in the partition and why it was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub offset: u64,
    pub reason: String,
}

/// Logs each rejection at error level with the plugin, instance, stream/topic and offset.
pub fn log_rejections(plugin: &str, id: u32, stream: &str, topic: &str, rejections: &[Rejection]) {
    for r in rejections {
        tracing::error!(
            "{plugin} {id}: {stream}/{topic} offset {} refused: {}",
            r.offset,
            r.reason
        );
    }
}

/// The engine's view of a consumed batch: everything stored except `rejections`, each of
/// which it dead-letters with its reason.
pub fn consume_outcome(rejections: Vec<Rejection>) -> ConsumeOutcome {
    let mut outcome = ConsumeOutcome::all_stored();
    for rejection in rejections {
        outcome.reject(rejection.offset, rejection.reason);
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consume_outcome_reports_each_rejection_in_order_and_nothing_else() {
        assert!(consume_outcome(Vec::new()).is_all_stored());
        let outcome = consume_outcome(vec![
            Rejection {
                offset: 7,
                reason: "HTTP 400: bad field".to_owned(),
            },
            Rejection {
                offset: 3,
                reason: "too large".to_owned(),
            },
        ]);
        let reported: Vec<(u64, &str)> = outcome
            .rejected()
            .iter()
            .map(|r| (r.offset, r.reason.as_str()))
            .collect();
        assert_eq!(reported, vec![(7, "HTTP 400: bad field"), (3, "too large")]);
    }
}
