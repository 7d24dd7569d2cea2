// KaaNodeService: every node serves it, whatever services it runs. Operators and tools use it
// to identify a node, read its memory, run console commands and stop it.
//
// Multiplexed name: "KaaNodeService". Kaa 0.10 declares these calls in `CliThriftService`, which
// its `KaaNodeThriftService` extends; inheritance does not show on the wire, so this file has one
// service with the same calls, arguments and exceptions.

include "shared.thrift"

namespace rs thrift

/** Memory figures in bytes: what the process may use, what it holds, and the headroom. */
struct MemoryUsage {
  1: shared.Long max
  2: shared.Long total
  3: shared.Long free
}

enum CommandStatus {
  OK = 1,
  ERROR = 2
}

/** The outcome of a console command: its status and its printed output. */
struct CommandResult {
  1: CommandStatus status
  2: string message
}

/** A call that failed on the node. */
exception CliThriftException {
  1: shared.Integer errorCode,
  2: string message
}

service KaaNodeService {
  /** The node's id. */
  string serverName() throws (1: CliThriftException cliException)

  /** Starts the node's graceful shutdown and returns at once. */
  void shutdown() throws (1: CliThriftException cliException)

  /** Memory figures; `forceGC` exists for compatibility (nothing to collect here). */
  MemoryUsage getMemoryUsage(1: bool forceGC) throws (1: CliThriftException cliException)

  /** Runs a console command line such as `help` or `status`. */
  CommandResult executeCommand(1: string commandLine) throws (1: CliThriftException cliException)
}
