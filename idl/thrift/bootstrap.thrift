// BootstrapService: served by nodes that run the Bootstrap service. Control pushes the current
// list of Operations servers to it. Multiplexed name: "BootstrapService".

include "shared.thrift"

namespace rs thrift

/** One live Operations server: its node id and its priority. */
struct ThriftOperationsServer {
  1: string id
  2: shared.Integer priority
}

typedef list<ThriftOperationsServer> serversList

service BootstrapService {
  /** Replaces the list of Operations servers this node hands out to endpoints. */
  void onOperationsServerListUpdate(1: serversList operationsServersList)
}
