//! ICE servers as `Link: <url>; rel="ice-server"` header values (RFC 9725 §4.6), sent with the
//! answer (with the participant's minted TURN credentials, [`crate::turn`]) and on `OPTIONS` (STUN
//! only: that answer is unauthenticated) so a client can use the hub's STUN/TURN servers.

use lectern_proto::signal::IceServer;

/// One `Link` header value per URL of every server, with its credentials if it has both.
/// Quotes are dropped from credentials: they would end the quoted string early.
pub fn ice_server_links(servers: &[IceServer]) -> Vec<String> {
    let mut links = Vec::new();
    for s in servers {
        for url in &s.urls {
            let mut link = format!("<{url}>; rel=\"ice-server\"");
            if let (Some(user), Some(cred)) = (&s.username, &s.credential) {
                link.push_str(&format!(
                    "; username=\"{}\"; credential=\"{}\"; credential-type=\"password\"",
                    user.replace('"', ""),
                    cred.replace('"', "")
                ));
            }
            links.push(link);
        }
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(urls: &[&str], username: Option<&str>, credential: Option<&str>) -> IceServer {
        IceServer {
            urls: urls.iter().map(|u| u.to_string()).collect(),
            username: username.map(str::to_owned),
            credential: credential.map(str::to_owned),
        }
    }

    #[test]
    fn each_url_is_one_link_and_credentials_go_with_turn() {
        let links = ice_server_links(&[
            server(&["stun:stun.example.org:3478"], None, None),
            server(&["turn:t.example.org:3478", "turns:t.example.org:443"], Some("u"), Some("p")),
        ]);
        assert_eq!(
            links,
            vec![
                "<stun:stun.example.org:3478>; rel=\"ice-server\"",
                "<turn:t.example.org:3478>; rel=\"ice-server\"; username=\"u\"; credential=\"p\"; credential-type=\"password\"",
                "<turns:t.example.org:443>; rel=\"ice-server\"; username=\"u\"; credential=\"p\"; credential-type=\"password\"",
            ]
        );
    }

    #[test]
    fn a_username_without_a_credential_is_not_sent_and_quotes_cannot_break_out() {
        assert_eq!(ice_server_links(&[server(&["turn:x"], Some("u"), None)]), vec!["<turn:x>; rel=\"ice-server\""]);
        let links = ice_server_links(&[server(&["turn:x"], Some("a\"b"), Some("\"p\""))]);
        assert_eq!(links[0].matches('"').count(), 8, "{}", links[0]);
        assert!(ice_server_links(&[]).is_empty());
    }
}
