// OperationsService: served by nodes that run the Operations service. Control tells it about
// metadata changes and redirection rules; Operations nodes route events, user configuration
// updates and endpoint-actor messages to each other through it.
// Multiplexed name: "OperationsService".

include "shared.thrift"

namespace rs thrift

typedef shared.Integer int
typedef shared.ObjectId id
typedef double probability
typedef binary endpoint_id
typedef string user_id
typedef string tenant_id
typedef string endpoint_class_family_id
typedef string application_token

/** What changed in the metadata (Kaa's ChangeType). */
enum Operation {
  UPDATE = 1,
  DELETE = 2,
  INSERT = 3,
  ADD_TOPIC = 4,
  REMOVE_TOPIC = 5,
  UPDATE_WEIGHT = 6,
  ADD_CONF = 7,
  REMOVE_CONF = 8,
  ADD_PROF = 9,
  REMOVE_PROF = 10,
  REMOVE_GROUP = 11,
  REMOVE_CONF_VERSION = 12,
  REMOVE_PROF_VERSION = 13,
  REMOVE_NOTIFICATION_VERSION = 14,
  ADD_LOG_APPENDER = 15,
  REMOVE_LOG_APPENDER = 16,
  UPDATE_LOG_APPENDER = 17,
  ADD_USER_VERIFIER = 18,
  REMOVE_USER_VERIFIER = 19,
  UPDATE_USER_VERIFIER = 20,
  APP_UPDATE = 21
}

/** How an event route changes. */
enum EventRouteUpdateType {
  ADD = 1,
  DELETE = 2,
  UPDATE = 3
}

/** Which member of a `Message` is set. */
enum EventMessageType {
  ROUTE_UPDATE = 1,
  USER_ROUTE_INFO = 2,
  EVENT = 3,
  ENDPOINT_ROUTE_UPDATE = 4,
  ENDPOINT_STATE_UPDATE = 5
}

/** A metadata change from Control: which record changed, its sequence numbers, and how. */
struct Notification {
  1: id appId
  2: shared.Integer appSeqNumber
  3: id groupId
  4: shared.Integer groupSeqNumber
  5: id profileFilterId
  6: shared.Integer profileFilterSeqNumber
  7: id configurationId
  8: shared.Integer configurationSeqNumber
  9: id notificationId
  10: id topicId
  11: Operation op
  12: id appenderId
  13: string userVerifierToken
}

/** Sends a share of endpoints elsewhere: on session start and during sessions. */
struct RedirectionRule {
  1: shared.Integer accessPointId
  2: shared.Long ruleId
  3: probability initRedirectProbability
  4: probability sessionRedirectProbability
  5: shared.Long ruleTTL
}

struct EventClassFamilyVersion {
  1: endpoint_class_family_id endpointClassFamilyId
  2: shared.Integer endpointClassFamilyVersion
}

struct RouteInfo {
  1: EventRouteUpdateType updateType
  2: list<EventClassFamilyVersion> eventClassFamilyVersion
  3: application_token applicationToken
  4: endpoint_id endpointId
}

struct EventRoute {
  1: user_id userId
  2: tenant_id tenantId
  3: list<RouteInfo> routeInfo
  4: string operationsServerId
}

struct EndpointEvent {
  1: string uuid
  2: endpoint_id sender
  3: binary eventData
  4: shared.Long createTime
  /** The sender's sequence number of the event. */
  5: shared.Integer version
  /** kaa-rs: the event class (Kaa carried it inside eventData). */
  6: string eventClassFqn
}

struct RouteAddress {
  1: endpoint_id endpointKey
  2: application_token applicationToken
  3: string operationsServerId
}

struct Event {
  1: user_id userId
  2: tenant_id tenantId
  3: EndpointEvent endpointEvent
  4: RouteAddress routeAddress
}

struct UserRouteInfo {
  1: user_id userId
  2: tenant_id tenantId
  3: string operationsServerId
  4: EventRouteUpdateType updateType
}

struct EndpointRouteUpdate {
  1: tenant_id tenantId
  2: user_id userId
  3: RouteAddress routeAddress
  4: EventRouteUpdateType updateType
  5: int cfSchemaVersion
  6: binary ucfHash
  /** kaa-rs: the event classes the endpoint receives (its SDK profile's event maps). */
  7: list<string> eventClassFqns
}

struct EndpointStateUpdate {
  1: tenant_id tenantId
  2: user_id userId
  3: application_token applicationToken
  4: endpoint_id endpointKey
  5: binary ucfHash
}

/** One event-routing message; `type` says which of the other members is set. */
struct Message {
  1: EventMessageType type
  2: shared.Long eventId
  3: Event event
  4: EventRoute route
  5: UserRouteInfo userRoute
  6: EndpointRouteUpdate endpointRouteUpdate
  7: EndpointStateUpdate endpointStateUpdate
}

struct UserConfigurationUpdate {
  1: tenant_id tenantId
  2: user_id userId
  3: application_token applicationToken
  4: int cfSchemaVersion
  5: binary ucfHash
}

enum ThriftRouteOperation {
  ADD = 1,
  DELETE = 2,
  UPDATE = 3
}

enum ThriftClusterEntityType {
  ENDPOINT = 1
}

struct ThriftEntityAddress {
  1: tenant_id tenantId
  2: application_token applicationToken
  3: ThriftClusterEntityType entityType
  4: binary entityId
}

enum ThriftActorClassifier {
  LOCAL = 1,
  GLOBAL = 2,
  APPLICATION = 3
}

struct ThriftEndpointDeregistrationMessage {
  1: ThriftEntityAddress address
  2: ThriftActorClassifier actorClassifier
}

struct ThriftEntityClusterAddress {
  1: string nodeId
  2: ThriftEntityAddress address
}

struct ThriftEntityRouteMessage {
  1: ThriftEntityClusterAddress address
  2: ThriftRouteOperation operation
}

struct ThriftUnicastNotificationMessage {
  1: ThriftEntityAddress address
  2: ThriftActorClassifier actorClassifier
  3: string notificationId
}

/** kaa-rs: another endpoint attached this endpoint to its owner, or detached it. */
struct ThriftOwnerChangeMessage {
  1: ThriftEntityAddress address
  2: ThriftActorClassifier actorClassifier
  /** The access token of the endpoint that made the change. */
  3: string byEndpointAccessToken
}

struct ThriftServerProfileUpdateMessage {
  1: ThriftEntityAddress address
  2: ThriftActorClassifier actorClassifier
}

service OperationsService {
  /** A metadata change from Control (new sequence numbers, added or removed records). */
  void onNotification(1: Notification notification)

  /** A redirection rule from Control's load balancer. */
  void setRedirectionRule(1: RedirectionRule redirectionRule)

  /** Event-routing messages from another Operations node. */
  void sendMessages(1: list<Message> messages)

  /** User configuration changes, for the endpoints of those users. */
  void sendUserConfigurationUpdates(1: list<UserConfigurationUpdate> updates)

  /** Endpoint-actor route changes from another Operations node. */
  void onEntityRouteMessages(1: list<ThriftEntityRouteMessage> messages)

  /** A notification for one endpoint. */
  void onUnicastNotification(1: ThriftUnicastNotificationMessage message)

  /** An endpoint's server-side profile changed. */
  void onServerProfileUpdate(1: ThriftServerProfileUpdateMessage message)

  /** An endpoint was deregistered. */
  void onEndpointDeregistration(1: ThriftEndpointDeregistrationMessage message)

  /** kaa-rs: an endpoint's owner was changed by another endpoint. */
  void onOwnerChange(1: ThriftOwnerChangeMessage message)

  /**
   * kaa-rs: the endpoints of owner `userId` (whose routes this node holds as the owner's ring
   * owner), other than `requester`, that receive every class in `eventClassFqns`; their key hashes.
   */
  list<binary> findEventListeners(1: user_id userId, 2: list<string> eventClassFqns,
                                  3: endpoint_id requester)
}
