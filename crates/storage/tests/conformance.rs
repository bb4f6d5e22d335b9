//! One conformance suite that every backend runs: memory, fs, and S3 against
//! a real S3-compatible server (moto) on 127.0.0.1.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use otelvault_storage::{
    FsStore, KeyPrefix, LIST_PAGE_SIZE, MemoryStore, ObjectKey, ObjectStore, PutOptions, S3Options,
    S3Store, StorageError, list_all,
};
use otelvault_testkit::S3Server;

fn opts() -> PutOptions {
    PutOptions {
        content_type: Some("application/json".into()),
        content_encoding: Some("gzip".into()),
    }
}

fn k(key: &str) -> ObjectKey {
    ObjectKey::new(key).expect("valid key")
}

fn p(prefix: &str) -> KeyPrefix {
    KeyPrefix::new(prefix).expect("valid prefix")
}

async fn keys(store: &dyn ObjectStore, prefix: &str) -> Vec<String> {
    list_all(store, &p(prefix))
        .await
        .expect("list")
        .into_iter()
        .map(|o| o.key.into_string())
        .collect()
}

async fn put_get_overwrite_delete(store: &dyn ObjectStore) {
    let key = "year=2024/month=10/day=27/hour=03/minute=33/traces_abc.json.gz";
    store
        .put(&k(key), Bytes::from_static(b"first"), &opts())
        .await
        .expect("put");
    assert_eq!(
        store.get(&k(key)).await.expect("get"),
        Bytes::from_static(b"first")
    );
    store
        .put(&k(key), Bytes::from_static(b"second, longer"), &opts())
        .await
        .expect("overwrite");
    assert_eq!(
        store.get(&k(key)).await.expect("get"),
        Bytes::from_static(b"second, longer")
    );
    let listed = list_all(store, &p("year=2024/")).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].key.as_str(), listed[0].size), (key, 14));
    // An empty object is an object.
    store
        .put(&k("empty/object"), Bytes::new(), &PutOptions::default())
        .await
        .expect("put empty");
    assert_eq!(
        store.get(&k("empty/object")).await.expect("get empty"),
        Bytes::new()
    );
    store.delete(&k(key)).await.expect("delete");
    store
        .delete(&k(key))
        .await
        .expect("deleting a missing object succeeds");
    assert!(matches!(
        store.get(&k(key)).await,
        Err(StorageError::NotFound { .. })
    ));
    assert!(matches!(
        store.get(&k("never/written")).await,
        Err(StorageError::NotFound { .. })
    ));
    assert_eq!(keys(store, "year=2024/").await, Vec::<String>::new());
    // Deleting a prefix's last object leaves no empty "directory" behind;
    // a write there afterwards works.
    assert!(
        !store
            .list_dirs(&p(""))
            .await
            .expect("dirs")
            .iter()
            .any(|d| d == "year=2024/"),
        "an empty prefix is still listed"
    );
    store
        .put(&k(key), Bytes::from_static(b"again"), &opts())
        .await
        .expect("put after delete");
    store.delete(&k(key)).await.expect("delete again");
}

async fn listing_order_prefixes_and_start_after(store: &dyn ObjectStore) {
    // '-' (0x2d) sorts before '/' (0x2f): a directory walk would get this wrong.
    let names = [
        "p/a/x",
        "p/a-b",
        "p/a/y",
        "p/ab",
        "p/b",
        "q/a",
        "p/a/z/deep",
    ];
    for n in names {
        store
            .put(&k(n), Bytes::from(n.to_owned()), &PutOptions::default())
            .await
            .expect("put");
    }
    assert_eq!(
        keys(store, "p/").await,
        vec!["p/a-b", "p/a/x", "p/a/y", "p/a/z/deep", "p/ab", "p/b"]
    );
    // Prefixes need not end at a separator.
    assert_eq!(
        keys(store, "p/a").await,
        vec!["p/a-b", "p/a/x", "p/a/y", "p/a/z/deep", "p/ab"]
    );
    assert_eq!(
        keys(store, "p/a/").await,
        vec!["p/a/x", "p/a/y", "p/a/z/deep"]
    );
    assert_eq!(keys(store, "nothing/").await, Vec::<String>::new());
    assert_eq!(keys(store, "").await.len(), names.len());
    let page = store
        .list_page(&p("p/"), Some("p/a/y"))
        .await
        .expect("start after");
    let after: Vec<_> = page.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(after, vec!["p/a/z/deep", "p/ab", "p/b"]);
    assert!(!page.is_truncated);
    // start_after before the prefix, and after everything.
    let page = store
        .list_page(&p("p/"), Some("a"))
        .await
        .expect("before prefix");
    assert_eq!(page.objects.len(), 6);
    assert!(
        store
            .list_page(&p("p/"), Some("z"))
            .await
            .expect("after all")
            .objects
            .is_empty()
    );
}

async fn listing_pages_through_more_than_a_thousand_keys(store: &dyn ObjectStore) {
    let total = LIST_PAGE_SIZE + 150;
    let mut tasks = futures::stream::iter((0..total).map(|i| async move {
        store
            .put(
                &k(&format!("many/obj-{i:05}")),
                Bytes::from(vec![b'x'; i % 7]),
                &PutOptions::default(),
            )
            .await
    }))
    .buffer_unordered(32);
    use futures::StreamExt;
    while let Some(r) = tasks.next().await {
        r.expect("put");
    }
    let first = store.list_page(&p("many/"), None).await.expect("page 1");
    assert_eq!(first.objects.len(), LIST_PAGE_SIZE);
    assert!(first.is_truncated);
    let all = list_all(store, &p("many/")).await.expect("list");
    let want: Vec<String> = (0..total).map(|i| format!("many/obj-{i:05}")).collect();
    assert_eq!(
        all.iter().map(|o| o.key.to_string()).collect::<Vec<_>>(),
        want,
        "every key exactly once, in order"
    );
    assert_eq!(all[13].size, 13 % 7);
}

async fn directories_list_one_level(store: &dyn ObjectStore) {
    for n in ["p/a/x", "p/a/y/z", "p/b/c", "p/top", "q/r", "top"] {
        store
            .put(&k(n), Bytes::from_static(b"x"), &PutOptions::default())
            .await
            .expect("put");
    }
    let dirs = async |prefix: &str| store.list_dirs(&p(prefix)).await.expect("list dirs");
    assert_eq!(dirs("").await, vec!["p/", "q/"]);
    assert_eq!(dirs("p/").await, vec!["p/a/", "p/b/"]);
    assert_eq!(dirs("p/a/").await, vec!["p/a/y/"]);
    assert_eq!(dirs("p/a").await, vec!["p/a/"]);
    assert_eq!(dirs("nothing/").await, Vec::<String>::new());
}

/// Unsafe keys cannot even be made, so no backend can be handed one.
async fn unsafe_keys_are_refused(store: &dyn ObjectStore) {
    for bad in [
        "../escape",
        "/abs",
        "a//b",
        "a/./b",
        "a/../../b",
        "",
        ".hidden",
        "a\nb",
    ] {
        assert!(
            matches!(ObjectKey::new(bad), Err(StorageError::InvalidKey { .. })),
            "key {bad:?}"
        );
    }
    assert!(matches!(
        KeyPrefix::new("../"),
        Err(StorageError::InvalidKey { .. })
    ));
    // Nothing was written.
    assert_eq!(keys(store, "").await, Vec::<String>::new());
}

/// Ranged reads and sizes, as a Parquet reader uses them: the footer from
/// the end, a column chunk from the middle.
async fn ranges_and_sizes(store: &dyn ObjectStore) {
    let key = k("parquet/traces/part-1.parquet");
    let body: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    store
        .put(&key, Bytes::from(body.clone()), &opts())
        .await
        .expect("put");
    let meta = store.head(&key).await.expect("head");
    assert_eq!((meta.key.as_str(), meta.size), (key.as_str(), 10_000));
    for range in [0..1, 0..10_000, 9_992..10_000, 1_234..5_678, 4_096..4_097] {
        let want = &body[range.start as usize..range.end as usize];
        assert_eq!(
            store.get_range(&key, range.clone()).await.expect("range"),
            want,
            "{range:?}"
        );
    }
    // Clamped to the object: shorter at its end, empty past it or when empty.
    assert_eq!(
        store.get_range(&key, 9_000..20_000).await.expect("tail"),
        &body[9_000..]
    );
    assert!(
        store
            .get_range(&key, 10_000..10_008)
            .await
            .expect("past")
            .is_empty()
    );
    assert!(
        store
            .get_range(&key, 50..50)
            .await
            .expect("empty")
            .is_empty()
    );

    store
        .put(&k("empty/object"), Bytes::new(), &opts())
        .await
        .expect("put empty");
    assert_eq!(store.head(&k("empty/object")).await.expect("head").size, 0);
    assert!(
        store
            .get_range(&k("empty/object"), 0..8)
            .await
            .expect("range of empty")
            .is_empty()
    );
    for missing in [k("never/written"), k("parquet")] {
        assert!(matches!(
            store.head(&missing).await,
            Err(StorageError::NotFound { .. })
        ));
        assert!(matches!(
            store.get_range(&missing, 0..8).await,
            Err(StorageError::NotFound { .. })
        ));
    }
}

async fn conformance(make: impl AsyncFn() -> Arc<dyn ObjectStore>) {
    put_get_overwrite_delete(&*make().await).await;
    ranges_and_sizes(&*make().await).await;
    listing_order_prefixes_and_start_after(&*make().await).await;
    listing_pages_through_more_than_a_thousand_keys(&*make().await).await;
    unsafe_keys_are_refused(&*make().await).await;
    directories_list_one_level(&*make().await).await;
}

#[tokio::test]
async fn memory_store_conforms() {
    conformance(async || Arc::new(MemoryStore::new()) as Arc<dyn ObjectStore>).await;
}

#[tokio::test]
async fn fs_store_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = std::sync::atomic::AtomicUsize::new(0);
    conformance(async || {
        let root = dir.path().join(
            n.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                .to_string(),
        );
        Arc::new(FsStore::new(root).expect("fs")) as Arc<dyn ObjectStore>
    })
    .await;
}

#[tokio::test]
async fn fs_store_writes_atomically_inside_its_root() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    let store = FsStore::new(&root).expect("fs");
    store
        .put(
            &k("a/b/c.json"),
            Bytes::from_static(b"data"),
            &PutOptions::default(),
        )
        .await
        .expect("put");
    assert_eq!(
        std::fs::read(root.join("a/b/c.json")).expect("file"),
        b"data"
    );
    // No temporary file is left behind, and hidden files never list.
    let names: Vec<_> = std::fs::read_dir(root.join("a/b"))
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("c.json")]);
    std::fs::write(root.join("a/b/.otelvault-1-1.tmp"), b"partial").expect("write");
    assert_eq!(keys(&store, "a/").await, vec!["a/b/c.json"]);
    // Nothing can be written outside the root: such a key cannot be made.
    assert!(ObjectKey::new("../outside").is_err());
    assert!(!dir.path().join("outside").exists());
}

fn shared_s3() -> &'static S3Server {
    static SERVER: OnceLock<S3Server> = OnceLock::new();
    SERVER.get_or_init(S3Server::start)
}

async fn s3_store(endpoint: String, bucket: &str, prefix: &str) -> S3Store {
    otelvault_testkit::s3_store(&endpoint, bucket, prefix).await
}

#[tokio::test]
#[ignore = "needs a real S3 server (moto_server): `make test` runs it"]
async fn s3_store_conforms_against_a_real_s3_server() {
    let endpoint = shared_s3().endpoint();
    let n = std::sync::atomic::AtomicUsize::new(0);
    conformance(async || {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // Alternate between a bucket root and a prefix inside a bucket.
        let prefix = if i.is_multiple_of(2) {
            ""
        } else {
            "otel/archive"
        };
        Arc::new(s3_store(endpoint.clone(), &format!("conformance-{i}"), prefix).await)
            as Arc<dyn ObjectStore>
    })
    .await;
}

#[tokio::test]
#[ignore = "needs a real S3 server (moto_server): `make test` runs it"]
async fn s3_prefix_isolates_stores_in_one_bucket() {
    let endpoint = shared_s3().endpoint();
    let a = s3_store(endpoint.clone(), "shared-bucket", "team-a").await;
    let b = s3_store(endpoint.clone(), "shared-bucket", "team-b").await;
    let root = s3_store(endpoint, "shared-bucket", "").await;
    a.put(&k("k"), Bytes::from_static(b"a"), &PutOptions::default())
        .await
        .expect("put");
    assert!(matches!(
        b.get(&k("k")).await,
        Err(StorageError::NotFound { .. })
    ));
    assert_eq!(keys(&root, "").await, vec!["team-a/k"]);
    assert_eq!(keys(&a, "").await, vec!["k"]);
}

#[tokio::test]
#[ignore = "needs a real S3 server (moto_server): `make test` runs it"]
async fn s3_faults_are_retryable_errors_and_missing_buckets_are_not() {
    let mut server = S3Server::start();
    let store = s3_store(server.endpoint(), "faults", "").await;
    store
        .put(&k("ok"), Bytes::from_static(b"x"), &PutOptions::default())
        .await
        .expect("put while up");

    let missing = S3Store::new(S3Options {
        bucket: "no-such-bucket".into(),
        endpoint: Some(server.endpoint()),
        force_path_style: true,
        static_credentials: Some(("test".into(), "test".into())),
        ..Default::default()
    })
    .await
    .expect("store");
    let err = missing
        .put(&k("k"), Bytes::from_static(b"x"), &PutOptions::default())
        .await
        .expect_err("no bucket");
    assert!(
        matches!(err, StorageError::Failed { .. }) && !err.is_retryable(),
        "{err:?}"
    );

    server.stop();
    let err = store
        .put(&k("k"), Bytes::from_static(b"x"), &PutOptions::default())
        .await
        .expect_err("server down");
    assert!(err.is_retryable(), "{err:?}");
    assert!(store.get(&k("ok")).await.expect_err("down").is_retryable());
    assert!(
        store
            .list_page(&p(""), None)
            .await
            .expect_err("down")
            .is_retryable()
    );
}

#[tokio::test]
#[ignore = "needs a real S3 server (moto_server): `make test` runs it"]
async fn s3_listings_leave_out_names_that_are_not_keys_and_go_on_past_them() {
    use futures::StreamExt;
    let endpoint = shared_s3().endpoint();
    let store = s3_store(endpoint, "foreign-names", "").await;
    // Console "folders" written by other tools: more of them than one list
    // page holds, all sorting before the one real key.
    let client = store.client();
    let mut puts = futures::stream::iter((0..=LIST_PAGE_SIZE).map(|i| {
        client
            .put_object()
            .bucket("foreign-names")
            .key(format!("a/{i:05}/"))
            .send()
    }))
    .buffer_unordered(32);
    while let Some(r) = puts.next().await {
        r.expect("raw put");
    }
    store
        .put(&k("a/zz"), Bytes::from_static(b"x"), &PutOptions::default())
        .await
        .expect("put");
    assert_eq!(keys(&store, "a/").await, vec!["a/zz"]);
}
