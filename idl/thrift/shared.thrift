// Types shared by the kaa-rs internode services.
//
// Wire-compatible with Kaa 0.10's internode Thrift: names, field ids and types follow Kaa's IDL,
// so a client generated from these files talks to a Kaa-style node and the other way round.

namespace rs thrift

/** A 32-bit integer, as Kaa's IDL names it. */
typedef i32 Integer

/** A 64-bit integer, as Kaa's IDL names it. */
typedef i64 Long

/** The id of a metadata record (Kaa: the hex string of a MongoDB ObjectId or a SQL key). */
typedef string ObjectId
