//! Unit tests of the sync rules: an application context, profiles and stored records built in
//! memory, no servers and no I/O.

use std::collections::{BTreeSet, HashMap};

use kaa_cluster::routing::{EndpointMessage, ring_key};
use kaa_idl::endpoint::sync::{
    ConfigurationSyncRequest, EndpointAttachRequest, EndpointDetachRequest, Event,
    EventListenersRequest, EventSequenceNumberRequest, EventSyncRequest, EventSyncResponse,
    LogEntry, ProfileSyncRequest, SubscriptionCommand, SyncRequestMetaData, TopicState,
    UserAttachErrorCode, UserAttachNotification, UserAttachRequest, UserDetachNotification,
};
use kaa_store::metadata::{Application, EndpointGroup, EventAction, GROUP_ALL, UserVerifier};
use serde_json::json;

use super::owners::RouteChange;
use super::*;
use crate::catalog::{GroupContext, GroupFilter};

const CLIENT_PROFILE: &str =
    r#"{"type":"record","name":"Client","fields":[{"name":"os","type":"string"}]}"#;
const SERVER_PROFILE: &str = r#"{"type":"record","name":"Server","fields":[{"name":"tier","type":"string","default":"basic"}]}"#;
const CONFIGURATION: &str = r#"{"type":"record","name":"Conf","fields":[
    {"name":"volume","type":"int","default":0},
    {"name":"mode","type":"string","default":"off"}]}"#;

fn application(credentials_service: &str) -> Application {
    Application {
        id: "app".into(),
        tenant_id: "tenant".into(),
        name: "App".into(),
        app_token: "app-token".into(),
        credentials_service: credentials_service.into(),
        seq: 0,
        created_ms: 0,
    }
}

fn sdk() -> SdkProfile {
    SdkProfile {
        id: "sdk-id".into(),
        app_id: "app".into(),
        name: "SDK".into(),
        sdk_token: "sdk".into(),
        client_profile_version: 1,
        server_profile_version: 1,
        configuration_version: 1,
        notification_version: 1,
        log_version: 1,
        event_map_ids: r#"["map"]"#.into(),
        default_verifier_token: Some("trust".into()),
        created_ms: 0,
    }
}

fn group(id: &str, name: &str, weight: i64) -> GroupContext {
    GroupContext {
        group: EndpointGroup {
            id: id.into(),
            app_id: "app".into(),
            name: name.into(),
            weight,
            description: String::new(),
            created_ms: 0,
        },
        filters: Vec::new(),
        configurations: HashMap::new(),
        topics: Vec::new(),
    }
}

fn with_filter(mut group: GroupContext, id: &str, source: &str) -> GroupContext {
    group.filters.push(GroupFilter {
        id: id.into(),
        client_version: 0,
        server_version: 0,
        filter: kaa_model::filter::ProfileFilter::compile(source).expect("a test filter"),
    });
    group
}

fn with_configuration(mut group: GroupContext, id: &str, body: Value) -> GroupContext {
    group.configurations.insert(1, (id.into(), body));
    group
}

fn topic(id: &str, kind: TopicKind) -> TopicInfo {
    TopicInfo {
        id: id.into(),
        wire_id: topic_wire_id(id),
        name: format!("topic {id}"),
        kind,
    }
}

fn verifier(token: &str, verifier_type: &str) -> UserVerifier {
    UserVerifier {
        id: format!("v-{token}"),
        app_id: "app".into(),
        name: token.into(),
        verifier_type: verifier_type.into(),
        verifier_token: token.into(),
        settings: "{}".into(),
        created_ms: 0,
    }
}

/// An application whose groups are `all` (base configuration, a mandatory topic), `android`
/// (filter on the client profile, weight 10, an optional topic) and `gold` (filter on the
/// server profile, weight 20).
fn app_with(credentials_service: &str) -> AppContext {
    let mut all = with_configuration(
        group("g-all", GROUP_ALL, 0),
        "c-all",
        json!({"volume": 1, "mode": "base"}),
    );
    all.topics.push(topic("news", TopicKind::Mandatory));
    let mut android = with_configuration(
        with_filter(
            group("g-android", "android", 10),
            "f-android",
            r#"cp.os == "android""#,
        ),
        "c-android",
        json!({"volume": 5}),
    );
    android.topics.push(topic("offers", TopicKind::Optional));
    let gold = with_configuration(
        with_filter(
            group("g-gold", "gold", 20),
            "f-gold",
            r#"sp.tier == "gold""#,
        ),
        "c-gold",
        json!({"mode": "gold"}),
    );
    let verifiers = HashMap::from([("trust".to_owned(), verifier("trust", "trustful"))]);
    let event_maps = HashMap::from([(
        "map".to_owned(),
        vec![
            ("org.Ping".to_owned(), EventAction::Source),
            ("org.Pong".to_owned(), EventAction::Sink),
        ],
    )]);
    AppContext::in_memory(
        application(credentials_service),
        vec![all, android, gold],
        verifiers,
        &[
            ("client_profile", 1, CLIENT_PROFILE),
            ("server_profile", 1, SERVER_PROFILE),
            ("configuration", 1, CONFIGURATION),
        ],
        event_maps,
    )
}

fn app() -> AppContext {
    app_with("trustful")
}

fn client_profile(app: &AppContext, os: &str) -> Vec<u8> {
    app.schema("client_profile", 1)
        .unwrap()
        .encode_json(&json!({ "os": os }))
        .unwrap()
}

const KEY: &[u8] = b"public key of the endpoint";

fn key_hash() -> Vec<u8> {
    sha1(KEY).to_vec()
}

/// A registration request from the endpoint with `KEY` and client profile `os`.
fn registration_request(app: &AppContext, os: &str) -> SyncRequest {
    SyncRequest {
        request_id: 1,
        sync_request_meta_data: Some(SyncRequestMetaData {
            sdk_token: "sdk".into(),
            ..Default::default()
        }),
        profile_sync_request: Some(ProfileSyncRequest {
            endpoint_public_key: Some(KEY.to_vec()),
            profile_body: client_profile(app, os),
            endpoint_access_token: Some("token-1".into()),
        }),
        ..Default::default()
    }
}

/// A request naming the endpoint by key hash and profile hash, without a profile section.
fn steady_request(profile_hash: &[u8]) -> SyncRequest {
    SyncRequest {
        request_id: 2,
        sync_request_meta_data: Some(SyncRequestMetaData {
            sdk_token: "sdk".into(),
            endpoint_public_key_hash: Some(key_hash()),
            profile_hash: Some(profile_hash.to_vec()),
            timeout: None,
        }),
        ..Default::default()
    }
}

fn registered(app: &AppContext, os: &str) -> EndpointProfile {
    match profile_step(
        app,
        &sdk(),
        &key_hash(),
        &registration_request(app, os),
        None,
    ) {
        Ok(ProfileStep::Sent(profile)) => profile,
        other => panic!("not registered: {other:?}"),
    }
}

fn served() -> ServedEndpoint {
    ServedEndpoint::new(key_hash(), 7, "sdk".into())
}

fn stored_profile() -> EndpointProfile {
    EndpointProfile {
        application_id: "app".into(),
        endpoint_key_hash: vec![1; 20],
        public_key: vec![2; 8],
        access_token: None,
        sdk_token: "sdk".into(),
        client_profile_version: 0,
        client_profile: Vec::new(),
        profile_hash: vec![3; 20],
        server_profile_version: 0,
        server_profile: "{}".into(),
        groups: Vec::new(),
        configuration_hash: vec![4; 20],
        topic_hash: 1,
        subscriptions: Vec::new(),
        system_notification_seq: 0,
        owner_id: None,
        node_id: Some("n1".into()),
        last_seen_ms: 1_000_000,
        version: 7,
    }
}

// --- Registration ---

#[test]
fn a_new_key_registers_the_endpoint_with_its_profile_and_the_server_profile_defaults() {
    let app = app();
    let profile = registered(&app, "android");
    assert_eq!(profile.application_id, "app");
    assert_eq!(profile.endpoint_key_hash, key_hash());
    assert_eq!(profile.public_key, KEY);
    assert_eq!(profile.client_profile, client_profile(&app, "android"));
    assert_eq!(
        profile.profile_hash,
        sha1(&client_profile(&app, "android")).to_vec()
    );
    assert_eq!(profile.access_token.as_deref(), Some("token-1"));
    assert_eq!(profile.client_profile_version, 1);
    assert_eq!(profile.server_profile_version, 1);
    assert_eq!(
        serde_json::from_str::<Value>(&profile.server_profile).unwrap(),
        json!({"tier": "basic"})
    );
    assert_eq!(profile.version, 0, "a new profile");
}

#[test]
fn a_known_endpoint_may_send_its_key_again_only_unchanged() {
    let app = app();
    let stored = registered(&app, "android");
    let mut request = registration_request(&app, "ios");
    let step = profile_step(&app, &sdk(), &key_hash(), &request, Some(stored.clone()));
    let Ok(ProfileStep::Sent(updated)) = step else {
        panic!("{step:?}");
    };
    assert_eq!(updated.client_profile, client_profile(&app, "ios"));
    assert!(updated.groups.is_empty(), "membership is recomputed");

    request
        .profile_sync_request
        .as_mut()
        .unwrap()
        .endpoint_public_key = Some(b"another".to_vec());
    let refused = profile_step(&app, &sdk(), &key_hash(), &request, Some(stored)).unwrap_err();
    assert_eq!(
        refused,
        SyncFailure::Unauthenticated(AuthFailure::KeyMismatch)
    );
}

#[test]
fn an_unregistered_endpoint_without_its_public_key_is_a_bad_request() {
    let app = app();
    let mut request = registration_request(&app, "android");
    request
        .profile_sync_request
        .as_mut()
        .unwrap()
        .endpoint_public_key = None;
    let refused = profile_step(&app, &sdk(), &key_hash(), &request, None).unwrap_err();
    assert!(
        matches!(&refused, SyncFailure::BadRequest(why) if why.contains("public key")),
        "{refused:?}"
    );
}

#[test]
fn the_key_hash_comes_from_the_meta_data_or_the_key_and_both_must_agree() {
    let app = app();
    let mut request = registration_request(&app, "android");
    assert_eq!(endpoint_key_hash(&request).unwrap(), key_hash());
    request
        .sync_request_meta_data
        .as_mut()
        .unwrap()
        .endpoint_public_key_hash = Some(vec![9; 20]);
    assert!(matches!(
        endpoint_key_hash(&request),
        Err(SyncFailure::BadRequest(_))
    ));
    request.profile_sync_request = None;
    assert_eq!(endpoint_key_hash(&request).unwrap(), vec![9; 20]);
    request.sync_request_meta_data = None;
    assert!(matches!(
        endpoint_key_hash(&request),
        Err(SyncFailure::BadRequest(_))
    ));
}

#[test]
fn a_session_serves_the_one_endpoint_its_first_request_named() {
    let served = served();
    assert!(same_endpoint(None, b"any").is_ok());
    assert!(same_endpoint(Some(&served), &key_hash()).is_ok());
    assert!(matches!(
        same_endpoint(Some(&served), b"another"),
        Err(SyncFailure::BadRequest(_))
    ));
}

#[test]
fn an_endpoint_registered_to_another_application_is_refused() {
    let app = app();
    let mut stored = registered(&app, "android");
    stored.application_id = "other".into();
    let request = steady_request(&stored.profile_hash);
    assert!(matches!(
        profile_step(&app, &sdk(), &key_hash(), &request, Some(stored)),
        Err(SyncFailure::BadRequest(_))
    ));
}

#[test]
fn a_redirect_answers_with_the_access_point_only() {
    let response = redirect(4, 1234);
    assert_eq!(response.request_id, 4);
    assert_eq!(response.status, SyncResponseResultType::Redirect);
    assert_eq!(
        response.redirect_sync_response,
        Some(RedirectSyncResponse {
            access_point_id: 1234
        })
    );
    assert!(response.profile_sync_response.is_none());
}

// --- Profile resync ---

#[test]
fn an_endpoint_with_no_stored_profile_that_sends_none_is_asked_for_it() {
    let request = steady_request(&[1; 20]);
    let step = profile_step(&app(), &sdk(), &key_hash(), &request, None).unwrap();
    assert!(matches!(step, ProfileStep::Resync));
    let answer = profile_resync(2);
    assert_eq!(answer.status, SyncResponseResultType::ProfileResync);
    assert_eq!(answer.request_id, 2);
}

#[test]
fn a_profile_hash_other_than_the_stored_one_is_out_of_step() {
    let app = app();
    let stored = registered(&app, "android");
    let step = |hash: &[u8]| match profile_step(
        &app,
        &sdk(),
        &key_hash(),
        &steady_request(hash),
        Some(stored.clone()),
    ) {
        Ok(ProfileStep::Stored { in_step, .. }) => in_step,
        other => panic!("{other:?}"),
    };
    assert!(step(&stored.profile_hash));
    assert!(!step(&[0; 20]));
}

// --- Credentials ---

fn credentials(status: CredentialStatus) -> Credentials {
    Credentials {
        application_id: "app".into(),
        endpoint_key_hash: key_hash(),
        public_key: KEY.to_vec(),
        status,
    }
}

#[test]
fn credentials_in_use_pass_and_revoked_ones_refuse_whatever_the_service() {
    for service in ["internal", "trustful"] {
        let app = app_with(service);
        let verdict = |c| credentials_verdict(&app, &key_hash(), KEY, Some(credentials(c)));
        assert_eq!(verdict(CredentialStatus::InUse), CredentialsVerdict::InUse);
        assert_eq!(
            verdict(CredentialStatus::Revoked),
            CredentialsVerdict::Revoked
        );
        assert_eq!(
            verdict(CredentialStatus::Available),
            CredentialsVerdict::Provision(credentials(CredentialStatus::InUse)),
            "provisioned credentials go in use with the first sync"
        );
    }
}

#[test]
fn an_internal_service_refuses_unknown_endpoints_and_a_trustful_one_provisions_them() {
    assert_eq!(
        credentials_verdict(&app_with("internal"), &key_hash(), KEY, None),
        CredentialsVerdict::NotProvisioned
    );
    assert_eq!(
        credentials_verdict(&app_with("trustful"), &key_hash(), KEY, None),
        CredentialsVerdict::Provision(credentials(CredentialStatus::InUse))
    );
}

// --- Groups and configuration ---

fn configuration_of(app: &AppContext, offer: &GroupOffer) -> Value {
    let merged = offer.configuration.as_ref().expect("a configuration");
    app.schema("configuration", 1)
        .unwrap()
        .decode_to_json(&merged.body)
        .unwrap()
}

fn group_ids(profile: &EndpointProfile) -> Vec<(&str, Option<&str>, Option<&str>)> {
    profile
        .groups
        .iter()
        .map(|g| {
            (
                g.group_id.as_str(),
                g.filter_id.as_deref(),
                g.configuration_id.as_deref(),
            )
        })
        .collect()
}

#[test]
fn filters_choose_the_groups_and_heavier_groups_win_the_merge() {
    let app = app();
    let mut ios = registered(&app, "ios");
    let offer = group_offer(&app, &sdk(), &mut ios, None).unwrap();
    assert_eq!(group_ids(&ios), [("g-all", None, Some("c-all"))]);
    assert_eq!(
        configuration_of(&app, &offer),
        json!({"volume": 1, "mode": "base"})
    );

    let mut android = registered(&app, "android");
    android.server_profile = json!({"tier": "gold"}).to_string();
    let offer = group_offer(&app, &sdk(), &mut android, None).unwrap();
    assert_eq!(
        group_ids(&android),
        [
            ("g-all", None, Some("c-all")),
            ("g-android", Some("f-android"), Some("c-android")),
            ("g-gold", Some("f-gold"), Some("c-gold")),
        ]
    );
    assert_eq!(
        configuration_of(&app, &offer),
        json!({"volume": 5, "mode": "gold"})
    );
    let merged = offer.configuration.as_ref().unwrap();
    assert_eq!(android.configuration_hash, merged.hash);
    assert_eq!(merged.hash, sha1(&merged.body).to_vec());
}

#[test]
fn the_owner_configuration_overrides_every_group() {
    let app = app();
    let mut profile = registered(&app, "android");
    let owner = owner_layer(Some(UserConfiguration {
        owner_id: "tenant:alice".into(),
        app_id: "app".into(),
        schema_version: 1,
        body: r#"{"volume": 11}"#.into(),
        updated_ms: 0,
    }));
    let offer = group_offer(&app, &sdk(), &mut profile, owner.as_ref()).unwrap();
    assert_eq!(
        configuration_of(&app, &offer),
        json!({"volume": 11, "mode": "base"})
    );
}

#[test]
fn an_owner_configuration_that_is_not_json_is_ignored() {
    let broken = UserConfiguration {
        owner_id: "tenant:alice".into(),
        app_id: "app".into(),
        schema_version: 1,
        body: "{not json".into(),
        updated_ms: 0,
    };
    assert_eq!(owner_layer(Some(broken)), None);
    assert_eq!(owner_layer(None), None);
}

#[test]
fn the_configuration_goes_out_when_the_endpoint_hash_differs_and_else_no_delta() {
    let app = app();
    let mut profile = registered(&app, "android");
    let offer = group_offer(&app, &sdk(), &mut profile, None).unwrap();
    let mut served = served();
    let first = configuration_answer(&mut served, &offer);
    assert_eq!(first.response_status, SyncResponseStatus::Resync);
    assert_eq!(
        first.conf_delta_body.as_deref(),
        Some(offer.configuration.as_ref().unwrap().body.as_slice())
    );
    let again = configuration_answer(&mut served, &offer);
    assert_eq!(again.response_status, SyncResponseStatus::NoDelta);
    assert_eq!(again.conf_delta_body, None);

    // An endpoint that says it holds the current hash gets nothing either.
    let mut fresh = ServedEndpoint::new(key_hash(), 8, "sdk".into());
    fresh.note_request(&SyncRequest {
        configuration_sync_request: Some(ConfigurationSyncRequest {
            configuration_hash: profile.configuration_hash.clone(),
            resync_only: None,
        }),
        ..Default::default()
    });
    assert_eq!(
        configuration_answer(&mut fresh, &offer).response_status,
        SyncResponseStatus::NoDelta
    );
}

// --- Topics and notifications ---

fn notifications_request(commands: &[(i64, SubscriptionCommandType)]) -> NotificationSyncRequest {
    NotificationSyncRequest {
        topic_list_hash: 0,
        topic_states: None,
        accepted_unicast_notifications: None,
        subscription_commands: Some(
            commands
                .iter()
                .map(|&(topic_id, command)| SubscriptionCommand { topic_id, command })
                .collect(),
        ),
    }
}

fn topic_ids(reads: &[TopicRead]) -> Vec<&str> {
    reads.iter().map(|r| r.topic_id.as_str()).collect()
}

#[test]
fn mandatory_topics_are_always_received_and_optional_ones_on_subscription() {
    let app = app();
    let mut profile = registered(&app, "android");
    let offer = group_offer(&app, &sdk(), &mut profile, None).unwrap();
    let mut served = served();
    let offers = topic_wire_id("offers");

    let step = topic_step(&mut served, &mut profile, &offer, None);
    assert_eq!(topic_ids(&step.reads), ["news"]);
    assert_eq!(profile.subscriptions, ["news"]);

    let subscribe = notifications_request(&[(offers, SubscriptionCommandType::Add)]);
    let step = topic_step(&mut served, &mut profile, &offer, Some(&subscribe));
    assert_eq!(topic_ids(&step.reads).len(), 2);
    assert!(profile.subscriptions.contains(&"offers".to_owned()));

    // Kept on the profile for later syncs; unsubscribing from a mandatory topic is ignored.
    let news = topic_wire_id("news");
    let unsubscribe = notifications_request(&[
        (offers, SubscriptionCommandType::Remove),
        (news, SubscriptionCommandType::Remove),
    ]);
    let step = topic_step(&mut served, &mut profile, &offer, None);
    assert_eq!(topic_ids(&step.reads).len(), 2, "still subscribed");
    let step = topic_step(&mut served, &mut profile, &offer, Some(&unsubscribe));
    assert_eq!(topic_ids(&step.reads), ["news"]);
    assert_eq!(profile.subscriptions, ["news"]);
}

#[test]
fn the_topic_list_goes_out_when_the_endpoint_holds_another_hash() {
    let app = app();
    let mut profile = registered(&app, "android");
    let offer = group_offer(&app, &sdk(), &mut profile, None).unwrap();
    assert_eq!(profile.topic_hash, topics::topic_list_hash(&offer.topics));
    let mut served = served();
    let step = topic_step(&mut served, &mut profile, &offer, None);
    assert_eq!(step.answer.response_status, SyncResponseStatus::Delta);
    let listed: Vec<(i64, SubscriptionType)> = step
        .answer
        .available_topics
        .unwrap()
        .into_iter()
        .map(|t| (t.id, t.subscription_type))
        .collect();
    let mut expected = vec![
        (topic_wire_id("news"), SubscriptionType::Mandatory),
        (topic_wire_id("offers"), SubscriptionType::Optional),
    ];
    expected.sort_by_key(|(id, _)| *id);
    assert_eq!(listed, expected);
    assert_eq!(served.topic_list_hash, profile.topic_hash);

    let step = topic_step(&mut served, &mut profile, &offer, None);
    assert_eq!(step.answer.response_status, SyncResponseStatus::NoDelta);
    assert!(step.answer.available_topics.is_none());
}

fn stored_notification(seq: i32) -> StoredNotification {
    StoredNotification {
        id: format!("n{seq}"),
        application_id: "app".into(),
        topic_id: "news".into(),
        seq,
        kind: NotificationKind::User,
        body: vec![seq as u8],
        expires_at_ms: i64::MAX,
    }
}

#[test]
fn notifications_are_read_after_the_endpoint_sequence_number_which_then_advances() {
    let app = app();
    let mut profile = registered(&app, "ios");
    let offer = group_offer(&app, &sdk(), &mut profile, None).unwrap();
    let news = topic_wire_id("news");
    let mut served = served();
    served.note_request(&SyncRequest {
        notification_sync_request: Some(NotificationSyncRequest {
            topic_list_hash: profile.topic_hash,
            topic_states: Some(vec![TopicState {
                topic_id: news,
                seq_number: 3,
            }]),
            ..Default::default()
        }),
        ..Default::default()
    });
    let step = topic_step(&mut served, &mut profile, &offer, None);
    assert_eq!(
        step.reads,
        [TopicRead {
            topic_id: "news".into(),
            wire_id: news,
            after: 3
        }]
    );
    assert!(
        step.answer.available_topics.is_none(),
        "the endpoint has the list"
    );
    let sent = topic_notifications(
        &mut served,
        &step.reads[0],
        vec![stored_notification(4), stored_notification(5)],
    );
    assert_eq!(
        sent.iter().map(|n| n.seq_number).collect::<Vec<_>>(),
        [Some(4), Some(5)]
    );
    assert!(sent.iter().all(|n| n.topic_id == news
        && n.notification_type == NotificationType::Custom
        && n.uid.is_none()));
    assert_eq!(served.topic_states.get(&news), Some(&5));
    let answer = notification_answer(step.answer, sent, Vec::new());
    assert_eq!(answer.response_status, SyncResponseStatus::Delta);
    assert_eq!(answer.notifications.unwrap().len(), 2);

    let step = topic_step(&mut served, &mut profile, &offer, None);
    assert_eq!(step.reads[0].after, 5);
    let answer = notification_answer(step.answer, Vec::new(), Vec::new());
    assert_eq!(answer.response_status, SyncResponseStatus::NoDelta);
    assert!(answer.notifications.is_none());
}

#[test]
fn accepted_unicasts_are_deleted_and_unicasts_go_out_with_their_ids() {
    let app = app();
    let mut profile = registered(&app, "ios");
    let offer = group_offer(&app, &sdk(), &mut profile, None).unwrap();
    let mut served = served();
    let request = NotificationSyncRequest {
        topic_list_hash: profile.topic_hash,
        accepted_unicast_notifications: Some(vec!["u1".into()]),
        ..Default::default()
    };
    served.topic_list_hash = profile.topic_hash;
    let step = topic_step(&mut served, &mut profile, &offer, Some(&request));
    assert_eq!(step.accepted_unicasts, ["u1"]);
    let unicast = UnicastNotification {
        id: "u2".into(),
        endpoint_key_hash: key_hash(),
        topic_id: "news".into(),
        kind: NotificationKind::System,
        body: b"hi".to_vec(),
        expires_at_ms: i64::MAX,
    };
    let answer = notification_answer(step.answer, Vec::new(), vec![unicast]);
    assert_eq!(answer.response_status, SyncResponseStatus::Delta);
    let sent = answer.notifications.unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].uid.as_deref(), Some("u2"));
    assert_eq!(sent[0].seq_number, None);
    assert_eq!(sent[0].topic_id, topic_wire_id("news"));
    assert_eq!(sent[0].notification_type, NotificationType::System);
}

// --- Owners ---

fn attach(verifier: &str, user: &str) -> UserAttachRequest {
    UserAttachRequest {
        user_verifier_id: verifier.into(),
        user_external_id: user.into(),
        user_access_token: "secret".into(),
    }
}

#[test]
fn an_attach_the_verifier_accepts_gives_the_endpoint_its_owner() {
    let app = app();
    let mut profile = registered(&app, "ios");
    let request = attach("", "alice");
    let verifier = verifier_for(&app, &sdk(), &request).expect("the SDK's default verifier");
    assert_eq!(verifier.verifier_token, "trust");
    let answer = attach_self(&app, &mut profile, &request, Ok(()));
    assert_eq!(answer.result, SyncResponseResultType::Success);
    assert_eq!(answer.error_code, None);
    assert_eq!(profile.owner_id.as_deref(), Some("tenant:alice"));
}

#[test]
fn an_attach_naming_no_known_verifier_or_refused_by_it_fails_with_the_reason() {
    let app = app();
    let mut profile = registered(&app, "ios");
    let request = attach("nope", "alice");
    let refusal = verifier_for(&app, &sdk(), &request).unwrap_err();
    assert_eq!(refusal.0, UserAttachErrorCode::NoVerifierConfigured);
    let answer = attach_self(&app, &mut profile, &request, Err(refusal));
    assert_eq!(answer.result, SyncResponseResultType::Failure);
    assert_eq!(
        answer.error_code,
        Some(UserAttachErrorCode::NoVerifierConfigured)
    );
    assert!(answer.error_reason.unwrap().contains("nope"));
    let refused = attach_self(
        &app,
        &mut profile,
        &attach("trust", "alice"),
        Err((UserAttachErrorCode::TokenInvalid, "refused".into())),
    );
    assert_eq!(refused.error_code, Some(UserAttachErrorCode::TokenInvalid));
    assert_eq!(profile.owner_id, None);
}

#[test]
fn attaching_another_endpoint_needs_an_owner_and_an_endpoint_with_the_token() {
    let request = EndpointAttachRequest {
        request_id: 3,
        endpoint_access_token: "their-token".into(),
    };
    let target = stored_profile();
    let (answer, write) = attach_other(Some("tenant:alice"), &request, Some(target.clone()));
    assert_eq!(answer.request_id, 3);
    assert_eq!(answer.result, SyncResponseResultType::Success);
    assert_eq!(
        answer.endpoint_key_hash,
        Some(ring_key(&target.endpoint_key_hash))
    );
    assert_eq!(
        write,
        Some(OwnerWrite {
            target: target.clone(),
            owner: Some("tenant:alice".into())
        })
    );
    for (owner, target) in [(None, Some(target)), (Some("tenant:alice"), None)] {
        let (answer, write) = attach_other(owner, &request, target);
        assert_eq!(answer.result, SyncResponseResultType::Failure);
        assert_eq!(answer.endpoint_key_hash, None);
        assert_eq!(write, None);
    }
}

#[test]
fn only_the_owners_endpoints_of_the_application_are_detached() {
    let app = app();
    let mut target = stored_profile();
    target.application_id = "app".into();
    target.owner_id = Some("tenant:alice".into());
    let request = EndpointDetachRequest {
        request_id: 4,
        endpoint_key_hash: ring_key(&target.endpoint_key_hash),
    };
    assert_eq!(detach_key(&request), Some(target.endpoint_key_hash.clone()));
    assert_eq!(
        detach_key(&EndpointDetachRequest {
            request_id: 4,
            endpoint_key_hash: "not base64!".into()
        }),
        None
    );

    let (answer, write) = detach_other(&app, Some("tenant:alice"), &request, Some(target.clone()));
    assert_eq!(answer.result, SyncResponseResultType::Success);
    assert_eq!(write.unwrap().owner, None);

    let mut elsewhere = target.clone();
    elsewhere.application_id = "other".into();
    for (owner, target) in [
        (Some("tenant:bob"), Some(target.clone())),
        (None, Some(target.clone())),
        (Some("tenant:alice"), Some(elsewhere)),
        (Some("tenant:alice"), None),
    ] {
        let (answer, write) = detach_other(&app, owner, &request, target);
        assert_eq!(answer.result, SyncResponseResultType::Failure);
        assert_eq!(write, None);
    }
}

#[test]
fn an_owner_change_goes_to_the_node_serving_the_other_endpoint() {
    let app = app();
    let target = stored_profile();
    let (node, address, message) = owner_change_route(&app, &target, "by-token").unwrap();
    assert_eq!(node, "n1");
    assert_eq!(address.tenant_id, "tenant");
    assert_eq!(address.app_token, "app-token");
    assert_eq!(address.key_hash, target.endpoint_key_hash);
    assert_eq!(
        message,
        EndpointMessage::OwnerChanged {
            by_access_token: "by-token".into()
        }
    );
    let offline = EndpointProfile {
        node_id: None,
        ..target
    };
    assert!(owner_change_route(&app, &offline, "by-token").is_none());
}

#[test]
fn an_owner_change_is_told_as_an_attach_or_a_detach_once() {
    let mut served = served();
    let mut profile = stored_profile();
    assert_eq!(owner_change_notice(&served, &profile, "by".into()), None);
    profile.owner_id = Some("tenant:alice:home".into());
    let notice = owner_change_notice(&served, &profile, "by".into()).unwrap();
    assert_eq!(
        notice.user_attach_notification,
        Some(UserAttachNotification {
            user_external_id: "alice:home".into(),
            endpoint_access_token: "by".into()
        })
    );
    served.owner_id = profile.owner_id.clone();
    assert_eq!(owner_change_notice(&served, &profile, "by".into()), None);
    profile.owner_id = None;
    let notice = owner_change_notice(&served, &profile, "by".into()).unwrap();
    assert_eq!(
        notice.user_detach_notification,
        Some(UserDetachNotification {
            endpoint_access_token: "by".into()
        })
    );
    assert!(notice.user_attach_notification.is_none());
}

#[test]
fn the_event_route_follows_the_owner() {
    let app = app();
    let mut served = served();
    let mut profile = stored_profile();
    assert_eq!(
        follow_owner(&app, &sdk(), &mut served, &profile),
        RouteChange::default()
    );
    assert!(!served.registered);

    profile.owner_id = Some("tenant:alice".into());
    let change = follow_owner(&app, &sdk(), &mut served, &profile);
    assert!(!change.withdraw);
    let registration = change.register.expect("registered with the owner");
    assert_eq!(registration.owner_id, "tenant:alice");
    assert_eq!(registration.session_id, 7);
    assert_eq!(registration.key_hash, key_hash());
    assert_eq!(
        registration.receives,
        BTreeSet::from(["org.Pong".to_owned()])
    );
    assert!(served.registered);
    assert_eq!(
        follow_owner(&app, &sdk(), &mut served, &profile),
        RouteChange::default(),
        "already registered"
    );

    profile.owner_id = Some("tenant:bob".into());
    let change = follow_owner(&app, &sdk(), &mut served, &profile);
    assert!(change.withdraw);
    assert_eq!(change.register.unwrap().owner_id, "tenant:bob");

    profile.owner_id = None;
    let change = follow_owner(&app, &sdk(), &mut served, &profile);
    assert_eq!(
        change,
        RouteChange {
            withdraw: true,
            register: None
        }
    );
    assert!(!served.registered);
    assert_eq!(served.owner_id, None);
}

// --- Events ---

fn event(seq_num: i32, fqn: &str) -> Event {
    Event {
        seq_num,
        event_class_fqn: fqn.into(),
        event_data: Vec::new(),
        source: None,
        target: None,
    }
}

#[test]
fn events_are_routed_once_in_order_only_from_an_owned_endpoint_and_for_classes_it_sends() {
    let app = app();
    let sends = app.event_classes(&sdk()).sends;
    let mut served = served();
    assert_eq!(event_registration(&app, &served), None);
    assert!(!accept_event(
        &mut served,
        false,
        &sends,
        &event(1, "org.Ping")
    ));
    assert_eq!(served.event_seq, 1, "a dropped event still counts");

    served.owner_id = Some("tenant:alice".into());
    let registration = event_registration(&app, &served).unwrap();
    assert_eq!(registration.owner_id, "tenant:alice");
    assert!(registration.receives.is_empty());
    assert!(accept_event(
        &mut served,
        true,
        &sends,
        &event(2, "org.Ping")
    ));
    assert!(
        !accept_event(&mut served, true, &sends, &event(2, "org.Ping")),
        "sent again after a lost response"
    );
    assert!(
        !accept_event(&mut served, true, &sends, &event(3, "org.Pong")),
        "a class it receives only"
    );
    assert_eq!(served.event_seq, 3);

    let answer = event_answer(
        &served,
        &EventSyncRequest {
            event_sequence_number_request: Some(EventSequenceNumberRequest),
            ..Default::default()
        },
    );
    assert_eq!(answer.event_sequence_number_response.unwrap().seq_num, 3);
    let query = EventListenersRequest {
        request_id: 9,
        event_class_fqns: vec!["org.Pong".into()],
    };
    let found = listeners_answer(&query, Some(vec![vec![1; 20]]));
    assert_eq!(found.result, SyncResponseResultType::Success);
    assert_eq!(found.listeners, Some(vec![ring_key(&[1; 20])]));
    assert_eq!(
        listeners_answer(&query, None).result,
        SyncResponseResultType::Failure
    );
}

// --- Logs ---

#[test]
fn a_log_batch_with_records_goes_to_collection_and_its_delivery_status_answers() {
    let mut request = SyncRequest::default();
    assert!(log_batch(&request).is_none());
    request.log_sync_request = Some(LogSyncRequest {
        request_id: 5,
        log_entries: Some(Vec::new()),
    });
    assert!(log_batch(&request).is_none(), "an empty batch");
    request.log_sync_request = Some(LogSyncRequest {
        request_id: 5,
        log_entries: Some(vec![LogEntry { data: vec![1] }]),
    });
    assert_eq!(log_batch(&request).unwrap().request_id, 5);
    let status = LogDeliveryStatus {
        request_id: 5,
        result: SyncResponseResultType::Success,
        error_code: None,
    };
    assert_eq!(
        log_answer(status.clone()).delivery_statuses,
        Some(vec![status])
    );
}

// --- Pushes and session state ---

#[test]
fn a_push_answers_only_when_it_tells_something_new() {
    let response = SyncResponse::new(1, SyncResponseResultType::Success);
    assert!(push_answer(response.clone()).is_none());
    let mut with_events = response;
    with_events.event_sync_response = Some(EventSyncResponse::default());
    assert!(push_answer(with_events).is_some());
    assert_eq!(when_changed(SyncResponseStatus::NoDelta, 1), None);
    assert_eq!(when_changed(SyncResponseStatus::Delta, 1), Some(1));
}

#[test]
fn a_request_tells_the_session_what_the_endpoint_holds() {
    let mut served = served();
    served.note_request(&SyncRequest {
        request_id: 12,
        configuration_sync_request: Some(ConfigurationSyncRequest {
            configuration_hash: vec![6; 20],
            resync_only: None,
        }),
        notification_sync_request: Some(NotificationSyncRequest {
            topic_list_hash: 99,
            topic_states: Some(vec![TopicState {
                topic_id: 5,
                seq_number: 8,
            }]),
            ..Default::default()
        }),
        ..Default::default()
    });
    assert_eq!(served.last_request_id, 12);
    assert_eq!(served.configuration_hash, vec![6; 20]);
    assert_eq!(served.topic_list_hash, 99);
    assert_eq!(served.topic_states.get(&5), Some(&8));
}

// --- Writes ---

#[test]
fn only_real_changes_or_an_old_last_seen_are_written() {
    let before = stored_profile();
    let mut after = before.clone();
    after.last_seen_ms += 5_000;
    assert!(unchanged(&before, &after), "a fresh last-seen alone");
    after.last_seen_ms = before.last_seen_ms + LAST_SEEN_GRANULARITY_MS;
    assert!(!unchanged(&before, &after), "last-seen a minute old");
    let mut moved = before.clone();
    moved.node_id = Some("n2".into());
    assert!(!unchanged(&before, &moved), "another node serves it");
    let mut reconfigured = before.clone();
    reconfigured.configuration_hash = vec![5; 20];
    assert!(!unchanged(&before, &reconfigured));
}

#[test]
fn the_configuration_blob_is_written_only_with_a_new_hash_and_a_steady_sync_writes_nothing() {
    let app = app();
    let mut profile = registered(&app, "android");
    let offer = group_offer(&app, &sdk(), &mut profile, None).unwrap();
    let merged = offer.configuration.as_ref().unwrap();

    let writes = profile_writes(profile.clone(), None, &offer).expect("a registration is written");
    assert_eq!(writes.configuration, Some(merged));
    assert_eq!(writes.profile, profile);

    let before = profile.clone();
    let mut seen = profile.clone();
    seen.last_seen_ms += 1_000;
    assert_eq!(profile_writes(seen, Some(&before), &offer), None);

    let mut resubscribed = profile.clone();
    resubscribed.subscriptions = vec!["offers".into()];
    let writes = profile_writes(resubscribed, Some(&before), &offer).unwrap();
    assert_eq!(writes.configuration, None, "the same configuration hash");

    let mut reconfigured = before.clone();
    reconfigured.configuration_hash = vec![0; 20];
    let writes = profile_writes(profile, Some(&reconfigured), &offer).unwrap();
    assert_eq!(writes.configuration, Some(merged));
}

#[test]
fn a_retry_after_a_conflict_keeps_what_the_other_writer_changed() {
    let before = stored_profile();
    let mut current = before.clone();
    current.version = 8;
    current.server_profile = r#"{"tier":"gold"}"#.into();
    current.server_profile_version = 2;
    current.owner_id = Some("tenant:bob".into());

    let mut profile = before.clone();
    profile.last_seen_ms += LAST_SEEN_GRANULARITY_MS;
    after_conflict(&mut profile, Some(&before), current.clone());
    assert_eq!(profile.version, 8);
    assert_eq!(profile.server_profile, current.server_profile);
    assert_eq!(profile.server_profile_version, 2);
    assert_eq!(profile.owner_id.as_deref(), Some("tenant:bob"));
    assert_eq!(
        profile.last_seen_ms,
        before.last_seen_ms + LAST_SEEN_GRANULARITY_MS
    );

    // An owner this sync set is kept.
    let mut attached = before.clone();
    attached.owner_id = Some("tenant:alice".into());
    after_conflict(&mut attached, Some(&before), current);
    assert_eq!(attached.owner_id.as_deref(), Some("tenant:alice"));
}
