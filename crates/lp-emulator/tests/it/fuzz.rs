//! Arbitrary token requests and raw garbage never break the emulator.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::support::*;

#[test]
fn arbitrary_token_requests_get_an_oauth_answer() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let emu = rt
        .block_on(builder().plain_http(true).start())
        .expect("start");
    let strategy = (
        "[a-z_=&%0-9.]{0,60}",
        proptest::collection::vec(any::<u8>(), 0..300),
        prop_oneof![Just(Some(FORM)), Just(None), Just(Some("text/plain"))],
        any::<bool>(),
    );
    // `Config::default()` honours PROPTEST_CASES.
    let mut runner = TestRunner::new(Config::default());
    let result = runner.run(&strategy, |(query, body, content_type, v2)| {
        let path = if v2 {
            format!("/sentinel/api/v2/account/{ACCOUNT}/app/token?{query}")
        } else {
            format!("/sentinel/api/account/{ACCOUNT}/app/token?{query}")
        };
        let req = Req::post_form(path, &[])
            .body(body)
            .content_type(content_type);
        let reply = rt.block_on(async { call(&emu, req).await });
        prop_assert!(
            [200, 400, 401].contains(&reply.status.as_u16()),
            "status {}",
            reply.status
        );
        prop_assert!(reply.json()["error"].is_string() || reply.status == 200);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // Raw garbage on the socket: the connection fails, the server lives on.
    rt.block_on(async {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let garbage: [&[u8]; 3] = [
            b"\x16\x03\x01\x00\xff garbage",
            b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"\0\0\0\0\r\n\r\n\r\n",
        ];
        for bytes in garbage {
            let mut tcp = tokio::net::TcpStream::connect(emu.addr())
                .await
                .expect("connect");
            tcp.write_all(bytes).await.expect("write");
            let mut sink = Vec::new();
            let _ = tokio::time::timeout(GUARD, tcp.read_to_end(&mut sink)).await;
        }
        let reply = call(&emu, seed_request(ACCOUNT, CLIENT, SECRET)).await;
        assert_eq!(reply.status, 200);
    });
}
