//! What one subscriber's next offer carries: [`OfferPlan`], the forwarded tracks it receives
//! (one sendonly m-section each), and the `msids` map skyway-js needs with every `SFU_OFFER`.

use std::collections::BTreeMap;

/// A forwarded track, named by the shell when it arrives (unique for the server's life).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackId(pub u64);

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// An audio track.
    Audio,
    /// A video track.
    Video,
}

impl Kind {
    /// `audio` or `video`, as in SDP.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Audio => "audio",
            Kind::Video => "video",
        }
    }
}

/// One forwarded track in a subscriber's offer.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DownTrack {
    /// The publisher's track.
    pub track: TrackId,
    /// Who publishes it.
    pub publisher: String,
    /// The publisher's stream id in this room: every track of one member shares it, so the SDK
    /// emits one `stream` per member.
    pub stream_id: String,
    /// Audio or video.
    pub kind: Kind,
}

/// The forwarded tracks of one subscriber's offer, in the order their sections were first
/// offered (new tracks last), so a section's position never changes between offers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfferPlan {
    /// The tracks, oldest first.
    pub downstream: Vec<DownTrack>,
}

impl OfferPlan {
    /// The complete `msids` map of the offer: stream id → publisher, for every publisher with a
    /// track in it.
    pub fn msids(&self) -> BTreeMap<String, String> {
        self.downstream
            .iter()
            .map(|d| (d.stream_id.clone(), d.publisher.clone()))
            .collect()
    }

    /// Whether `track` is in the plan.
    pub fn has(&self, track: TrackId) -> bool {
        self.downstream.iter().any(|d| d.track == track)
    }

    /// The tracks of `self` that `before` did not have.
    pub fn added_since<'a>(&'a self, before: &'a OfferPlan) -> impl Iterator<Item = &'a DownTrack> {
        self.downstream.iter().filter(|d| !before.has(d.track))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn down(track: u64, publisher: &str) -> DownTrack {
        DownTrack {
            track: TrackId(track),
            publisher: publisher.into(),
            stream_id: format!("s-{publisher}"),
            kind: Kind::Video,
        }
    }

    #[test]
    fn msids_map_each_stream_once() {
        let plan = OfferPlan {
            downstream: vec![down(1, "a"), down(2, "a"), down(3, "b")],
        };
        let m = plan.msids();
        assert_eq!(m.len(), 2);
        assert_eq!(m["s-a"], "a");
        assert_eq!(m["s-b"], "b");
        let before = OfferPlan {
            downstream: vec![down(1, "a")],
        };
        let added: Vec<u64> = plan.added_since(&before).map(|d| d.track.0).collect();
        assert_eq!(added, vec![2, 3]);
    }
}
