//! Checks on what clients answer, pure.

/// Why an SFU answer cannot be used, or `None`.
///
/// skyway-js rewrites the `a=msid-semantic` line of every unified-plan SFU answer to exactly
/// `a=msid-semantic:WMS *` (protocol §10.3); legacy Safari (12.0 to 12.1.0) answers in Plan B,
/// with `a=msid-semantic: WMS <stream ids>`. This SFU speaks unified plan only, so an answer
/// whose `msid-semantic` names streams instead of `*` is refused (`ERROR sfu-limited`, with
/// this text) rather than failing later in ways the client cannot explain. An answer without
/// the line (libraries such as webrtc-rs write none) is unified plan and passes. An answer
/// without any media section is refused too.
pub fn answer_problem(sdp: &str) -> Option<&'static str> {
    let mut star = false;
    let mut named = false;
    let mut media = false;
    for line in sdp.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(rest) = line.strip_prefix("a=msid-semantic:") {
            let tokens: Vec<&str> = rest.split_whitespace().collect();
            if tokens.get(1) == Some(&"*") {
                star = true;
            } else if tokens.len() > 1 {
                named = true;
            }
        }
        if line.starts_with("m=") {
            media = true;
        }
    }
    if !media {
        return Some("the SFU answer has no media section");
    }
    if named && !star {
        return Some(
            "Plan-B SFU answers are not supported (`a=msid-semantic` names streams instead of `WMS *`): use a browser with unified-plan SDP",
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_plan_answers_pass_and_plan_b_ones_do_not() {
        let ok = "v=0\r\na=msid-semantic:WMS *\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n";
        assert_eq!(answer_problem(ok), None);
        let plan_b = "v=0\r\na=msid-semantic: WMS stream1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n";
        assert!(answer_problem(plan_b).is_some_and(|p| p.contains("Plan-B")));
        assert!(answer_problem("v=0\r\na=msid-semantic:WMS *\r\n").is_some());
        let webrtc_rs = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n";
        assert_eq!(answer_problem(webrtc_rs), None);
        assert!(answer_problem("").is_some());
    }
}
