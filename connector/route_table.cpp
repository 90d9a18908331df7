#include "connector/route_table.h"

namespace kps {

bool is_static_sink(const SinkConfig& sink) { return sink.table_template.empty() && !sink.columns_by_name; }

RouteTable::RouteTable(const Config& config) : static_routes_(config.sinks.size()) {
  for (size_t index = 0; index < config.sinks.size(); ++index) {
    if (!is_static_sink(config.sinks[index])) continue;
    static_routes_[index] = entries_.size();
    entries_.push_back(Entry{config.sinks[index], index});
  }
}

size_t RouteTable::publish(SinkConfig route, size_t sink_index) {
  const std::lock_guard<std::mutex> lock(mutex_);
  entries_.push_back(Entry{std::move(route), sink_index});
  return entries_.size() - 1;
}

const SinkConfig& RouteTable::route(size_t route_index) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return entries_.at(route_index).route;
}

size_t RouteTable::sink_of(size_t route_index) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return entries_.at(route_index).sink_index;
}

size_t RouteTable::size() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

std::optional<size_t> RouteTable::static_route(size_t sink_index) const {
  if (sink_index >= static_routes_.size()) return std::nullopt;
  return static_routes_[sink_index];
}

std::optional<size_t> RouteTable::find(size_t sink_index, const QualifiedName& table) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  for (size_t index = entries_.size(); index-- > 0;) {
    if (entries_[index].sink_index == sink_index && entries_[index].route.table == table) return index;
  }
  return std::nullopt;
}

}  // namespace kps
