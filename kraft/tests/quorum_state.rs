//! `quorum-state` files are input from disk: any text must parse to a value or an error,
//! never a panic, and every election state must survive its own JSON (`docs/formats.md` §12).

use kraft::raft::json;
use kraft::raft::{ElectionState, QuorumStateVersion};
use proptest::prelude::*;
use protocol::{Epoch, NodeId, Uuid};

fn election() -> impl Strategy<Value = ElectionState> {
    (
        any::<i32>(),
        proptest::option::of(0i32..i32::MAX),
        proptest::option::of(0i32..i32::MAX),
        proptest::option::of(any::<[u8; 16]>()),
        proptest::collection::btree_set(0i32..1000, 0..5),
    )
        .prop_map(|(epoch, leader_id, voted_id, dir, voters)| ElectionState {
            epoch: Epoch(epoch),
            leader_id: leader_id.map(NodeId),
            voted_id: voted_id.map(NodeId),
            voted_directory_id: dir.map(Uuid).filter(|d| !d.is_zero()),
            voters: voters.into_iter().map(NodeId).collect(),
        })
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        let _ = json::parse(&text);
        let _ = ElectionState::from_quorum_state_json(&text);
    }

    #[test]
    fn json_like_text_never_panics(text in r#"[\[\]{}",:0-9a-z_\\ \-.]{0,120}"#) {
        let _ = json::parse(&text);
        let _ = ElectionState::from_quorum_state_json(&text);
    }

    #[test]
    fn election_states_round_trip(state in election(), v1 in any::<bool>()) {
        let version = if v1 { QuorumStateVersion::V1 } else { QuorumStateVersion::V0 };
        let text = state.to_quorum_state_json(version);
        prop_assert!(!text.contains('\n'));
        let (back, read_version) = ElectionState::from_quorum_state_json(&text).unwrap();
        prop_assert_eq!(read_version, version);
        let mut expected = state;
        match version {
            QuorumStateVersion::V0 => expected.voted_directory_id = None,
            QuorumStateVersion::V1 => expected.voters.clear(),
        }
        prop_assert_eq!(back, expected);
    }

    #[test]
    fn truncated_files_are_errors(state in election(), cut in 0usize..200) {
        let text = state.to_quorum_state_json(QuorumStateVersion::V1);
        if cut < text.len() {
            prop_assert!(ElectionState::from_quorum_state_json(&text[..cut]).is_err());
        }
    }
}
