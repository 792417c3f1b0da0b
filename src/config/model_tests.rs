//! Unit tests of the resolved configuration's model (config/model.rs).

use super::*;

fn config() -> Config {
    super::super::from_toml_str(
        "[upstreams.a]\nurl = \"http://127.0.0.1:9000/mcp\"\n\
         [upstreams.b]\nurl = \"http://127.0.0.1:9001/mcp\"\n\
         [listeners.main]\nbind = \"127.0.0.1:8080\"\n\
         [[listeners.main.routes]]\npath = \"/a\"\nupstream = \"a\"\n\
         [[listeners.main.routes]]\npath = \"/mcp\"\nupstream = \"b\"\n",
        "test.toml",
    )
    .unwrap()
}

#[test]
fn route_for_matches_the_path_exactly_and_ignores_the_query() {
    let config = config();
    let main = ListenerId::FIRST;
    let (id, route) = config.route_for(main, b"/mcp").unwrap();
    assert_eq!(config.route(id).path, "/mcp");
    assert_eq!(config.upstream(route.upstream).name, "b");
    assert_eq!(id.listener(), main);
    assert!(config.route_for(main, b"/mcp?sessionId=1").is_some());
    assert!(config.route_for(main, b"/mcp/").is_none());
    assert!(config.route_for(main, b"/").is_none());
}

#[test]
fn ids_from_the_iterators_name_their_entries() {
    let config = config();
    for (id, upstream) in config.upstream_ids() {
        assert_eq!(config.upstream(id), upstream);
    }
    let listeners: Vec<_> = config.listener_ids().collect();
    assert_eq!(listeners.len(), 1);
    for (id, listener) in listeners {
        assert_eq!(config.listener(id), listener);
        let routes: Vec<_> = config.route_ids(id).collect();
        assert_eq!(routes.len(), 2);
        for (route_id, route) in routes {
            assert_eq!(config.route(route_id), route);
            assert_eq!(route_id.listener(), id);
        }
    }
}

#[test]
fn set_addr_rewrites_authority_and_keeps_the_path() {
    let mut url = UpstreamUrl {
        tls: false,
        host: "127.0.0.1".into(),
        port: 0,
        path: "/mcp".into(),
        authority: "127.0.0.1:0".into(),
        addrs: vec!["127.0.0.1:0".parse().unwrap()],
    };
    url.set_addr("[::1]:9000".parse().unwrap());
    assert_eq!(url.to_url(), "http://[::1]:9000/mcp");
    url.set_addr("127.0.0.1:80".parse().unwrap());
    assert_eq!(url.authority, "127.0.0.1");
    assert_eq!(url.addrs, vec!["127.0.0.1:80".parse().unwrap()]);
}
