#pragma once
// The routes: one concrete target table of one sink entry each, a SinkConfig with its
// table and columns resolved (contract: "Change data capture, routing and columns by
// name"). A route is named by its index everywhere a batch goes (WriteRequest,
// FlushReport, the lanes' table state): what was the index into Config::sinks.
//
// Static sinks (literal table and explicit columns) are the first routes, published at
// construction in sink order, so a config of static sinks only has route i == sink i.
// The others are published when their first topic is routed (see RouteResolver), on the
// polling thread. Routes are never changed or removed once published: a route that gains
// a column is published again as a new version under a new index. Thread-safe: writer
// threads read routes while the polling thread publishes; references stay valid for the
// table's lifetime.

#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>

#include "connector/config.h"
#include "connector/record.h"
#include "connector/status.h"

namespace kps {

/// Is `sink` a route as written (literal table, explicit columns)?
bool is_static_sink(const SinkConfig& sink);

class RouteTable {
 public:
  /// Publishes every static sink of `config` as a route, in sink order.
  explicit RouteTable(const Config& config);
  RouteTable(const RouteTable&) = delete;
  RouteTable& operator=(const RouteTable&) = delete;

  /// Adds `route`, a concrete SinkConfig of sink `sink_index`; returns its route index.
  size_t publish(SinkConfig route, size_t sink_index);
  /// The route at `route_index` (< size()); the reference stays valid.
  const SinkConfig& route(size_t route_index) const;
  /// Which sink entry (index into Config::sinks) the route belongs to.
  size_t sink_of(size_t route_index) const;
  size_t size() const;
  /// The route of a static sink; nullopt for a sink whose routes are resolved per topic.
  std::optional<size_t> static_route(size_t sink_index) const;
  /// The newest route of `sink_index` that writes `table`: two topics whose template
  /// resolves to one table share one route.
  std::optional<size_t> find(size_t sink_index, const QualifiedName& table) const;

 private:
  struct Entry {
    SinkConfig route;
    size_t sink_index;
  };
  mutable std::mutex mutex_;
  std::deque<Entry> entries_;  // a deque: publishing never moves an entry others read
  std::vector<std::optional<size_t>> static_routes_;  // by sink index
};

/// What a RouteResolverFn returns for a record that cannot route its topic yet: its table
/// must be created from a row image, and this record carries none (a tombstone, a truncate).
/// The record is consumed without a row (its offset is stored with the partition's next
/// batch) and the topic is routed on a later record.
inline constexpr size_t kRouteNotYet = static_cast<size_t>(-1);

/// Routes a topic on its first record (polling thread): returns the route index (or
/// kRouteNotYet), or the failure (Transient: PostgreSQL unreachable, routing is tried again after the outage
/// recovery; Fatal: the table is missing or does not fit).
using RouteResolverFn = std::function<Result<size_t>(size_t sink_index, const RecordView& first_record)>;

}  // namespace kps
