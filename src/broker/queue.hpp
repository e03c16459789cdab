#pragma once
// The work queue between a coordinator (`verify --broker`) and its workers (`mailsift worker`),
// docs/cluster.md. Key names, message shapes, and the queue's atomic steps as Redis Functions.
//
//   <prefix>work            stream, consumer group "w": chunks (one domain's addresses of one run)
//   <prefix>res:<run>       stream, consumer group "c": the verdicts of finished chunks (expiring)
//   <prefix>run:<run>       present while the run's coordinator is alive (expiring)
//   <prefix>workers         sorted set: worker → its last heartbeat (ms, the broker's clock)
//   <prefix>worker:<name>   hash: a worker's identity and load (expiring)
//   <prefix>dead            stream: entries no worker could read (malformed, oversized), kept
//                            for a look (capped at about 10,000), never retried
//   <prefix>ca:<run>:<domain>  a domain's catch-all answer in a run, shared by its workers (expiring;
//                            per run, so that a run's output is that of one process: across runs,
//                            the coordinator's --cache carries answers, as without a broker)
//
// Delivery is at least once: a chunk whose worker stops renewing it is claimed by another, and the
// coordinator keeps the first verdict of each chunk (by run and chunk number) and drops the rest.
// Entry points: Keys, Chunk, chunk_fields, parse_chunk, encode_items, decode_items, queue_library.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/digest.hpp"

#include "broker/redis.hpp"

namespace mailsift::broker {

inline constexpr const char* kWorkGroup = "w";
inline constexpr const char* kResultGroup = "c";
/// Addresses in one chunk at most: one domain's addresses of a batch are split in chunks this big
/// (a few SMTP sessions each), so that no worker holds a huge domain alone.
inline constexpr std::size_t kChunkItems = 200;
/// A chunk's entry larger than this is refused (200 addresses of at most 254 bytes are ~52 KB).
inline constexpr std::size_t kMaxChunkBytes = std::size_t{1} << 20;
/// A chunk delivered this often (taken over from a stopped worker 4 times) is not handed out
/// again: its rows get check_failed and it goes to the dead-letter stream. A chunk that crashes
/// every worker that takes it must not take the cluster down one worker after another.
inline constexpr long long kMaxDeliveries = 5;
/// How long the dead-letter stream is kept after its last entry.
inline constexpr std::chrono::seconds kDeadLetterTtl{7 * 86400};
/// How long a shared catch-all answer lives (a run's domain seen again later is tested again).
inline constexpr std::chrono::seconds kCatchAllTtl{2 * 3600};

struct Keys {
  std::string prefix = "ms:";
  [[nodiscard]] std::string work() const { return prefix + "work"; }
  [[nodiscard]] std::string results(std::string_view run) const { return prefix + "res:" + std::string(run); }
  [[nodiscard]] std::string run(std::string_view run) const { return prefix + "run:" + std::string(run); }
  [[nodiscard]] std::string workers() const { return prefix + "workers"; }
  [[nodiscard]] std::string worker(std::string_view name) const { return prefix + "worker:" + std::string(name); }
  /// A run's shared catch-all answer for `domain`, named by the domain's SHA-256: no domain name
  /// (a piece of the addresses being checked) appears among the broker's keys.
  [[nodiscard]] std::string catch_all(std::string_view run, std::string_view domain) const {
    return prefix + "ca:" + std::string(run) + ":" + sha256_hex(domain);
  }
};

/// Positions (rows of the coordinator's batch) with a string each: a chunk's inputs, or its verdicts.
using Items = std::vector<std::pair<std::uint64_t, std::string>>;

struct Chunk {
  std::string run;
  std::uint64_t number = 0;  // unique within the run
  std::string level;         // "dns" or "smtp"
  std::string domain;
  Items items;  // (row, the input as given)
};

/// The field-value pairs of a chunk's stream entry (after XADD key *).
[[nodiscard]] std::vector<std::string> chunk_fields(const Chunk& c);
/// A stream entry's field array back to a chunk; nullopt when it is not one of ours (a newer
/// version, or damaged): the worker drops it with a message rather than guessing.
[[nodiscard]] std::optional<Chunk> parse_chunk(const Reply& fields);
/// The value of `field` in a stream entry's field array, or nullopt.
[[nodiscard]] std::optional<std::string_view> field_of(const Reply& fields, std::string_view field);

/// "<row> <length>:<bytes>" repeated: any bytes survive (verdicts hold JSON, inputs anything).
[[nodiscard]] std::string encode_items(const Items& items);
/// nullopt when malformed or holding more than `max_items`.
[[nodiscard]] std::optional<Items> decode_items(std::string_view s, std::size_t max_items);

/// The Lua source of the `mailsift_queue_v1` Functions library: ms_complete (a chunk's verdicts
/// added to its run's results and the chunk acknowledged, in one step, so a broker restart keeps
/// both or neither) and ms_heartbeat (a worker's heartbeat on the broker's clock).
[[nodiscard]] std::string_view queue_library();

/// Creates a stream's consumer group if it is missing (the stream too); starts it at the stream's
/// first entry so that nothing added before is skipped.
[[nodiscard]] std::vector<std::string> create_group(const std::string& stream, const char* group);
/// True for the error reply that says the group exists already.
[[nodiscard]] bool group_exists(const Reply& r);

}  // namespace mailsift::broker
