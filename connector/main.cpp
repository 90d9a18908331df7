// kafka-pg-sink: flags, signals, config, run; exceptions become exit codes here.
// Exit codes (contract): 0 clean stop, 2 bad usage or invalid config, 1 fatal runtime error.

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>
#include <unistd.h>
#include <vector>

#include "connector/config.h"
#include "connector/connector.h"
#include "connector/dead_letter_producer.h"
#include "connector/decoder.h"
#include "connector/kafka_consumer.h"
#include "connector/log.h"
#include "connector/offsets_command.h"
#include "connector/pg_connection.h"
#include "connector/version.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitRuntimeError = 1;
constexpr int kExitUsage = 2;

constexpr std::string_view kUsage =
    "usage: kafka-pg-sink --config PATH [--check-config] [--until-caught-up] [--version] [--help]\n"
    "       kafka-pg-sink --config PATH offsets show [--topic T]\n"
    "       kafka-pg-sink --config PATH offsets reset --topic T [--partition P]\n"
    "                     (--to-earliest | --to-latest | --to-offset N | --to-timestamp TIME) [--execute]\n"
    "\n"
    "Streams JSON records from Kafka into PostgreSQL, exactly once.\n"
    "\n"
    "  --config PATH      YAML configuration file (required); ${VAR} and ${VAR:-default} are\n"
    "                     taken from the environment\n"
    "  --check-config     load, interpolate and validate the configuration, connect to nothing;\n"
    "                     prints 'config ok' (exit 0) or every problem with its key path (exit 2)\n"
    "  --until-caught-up  exit 0 once every record below the high watermarks seen at start is\n"
    "                     applied to PostgreSQL and its offset committed\n"
    "  --version          print the version and the versions of the libraries in use\n"
    "  --help             print this help\n"
    "\n"
    "offsets show: per partition, the offset stored in PostgreSQL (where the daemon resumes),\n"
    "  the group's committed offset in Kafka, the log start, the high watermark and the lag.\n"
    "offsets reset: prints the plan and changes nothing unless --execute is given; then the\n"
    "  stored offsets move in one transaction, and the group's committed offsets with them.\n"
    "  --topic also takes a sink's topic_pattern, as configured, for every topic it matches.\n"
    "  TIME: 2026-01-01T00:00:00Z (any UTC offset) or Unix epoch milliseconds.\n"
    "\n"
    "Exit codes: 0 clean stop, 1 fatal runtime error, 2 bad usage or invalid configuration.\n"
    "SIGTERM/SIGINT: stop fetching, flush and commit what is in flight, leave the group, exit 0.\n";

std::atomic<bool> g_stop_requested{false};

extern "C" void request_stop(int) { g_stop_requested.store(true); }

struct Options {
  std::string config_path;
  bool check_config = false;
  bool until_caught_up = false;
  bool version = false;
  bool help = false;
  std::vector<std::string_view> offsets_arguments;  // after `offsets`: the subcommand's own
  bool offsets = false;
};

/// Returns an error message for bad usage, empty on success.
std::string parse_arguments(int argc, char** argv, Options& options) {
  for (int index = 1; index < argc; ++index) {
    const std::string_view argument = argv[index];
    if (argument == "--config") {
      if (index + 1 >= argc) return "--config needs a PATH";
      options.config_path = argv[++index];
    } else if (argument.starts_with("--config=")) {
      options.config_path = std::string(argument.substr(9));
    } else if (argument == "--check-config") {
      options.check_config = true;
    } else if (argument == "--until-caught-up") {
      options.until_caught_up = true;
    } else if (argument == "--version") {
      options.version = true;
    } else if (argument == "--help" || argument == "-h") {
      options.help = true;
    } else if (argument == "offsets") {
      options.offsets = true;
      options.offsets_arguments.assign(argv + index + 1, argv + argc);
      break;
    } else {
      return "unknown argument: " + std::string(argument);
    }
  }
  if (!options.help && !options.version && options.config_path.empty()) return "--config PATH is required";
  return {};
}

void install_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = request_stop;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
}

/// Enforces shutdown_timeout_ms: once a stop is requested, the drain gets that long.
/// Exiting is safe at any instant: each batch commits atomically with its offsets.
void start_shutdown_watchdog(std::chrono::milliseconds timeout) {
  std::thread([timeout] {
    while (!g_stop_requested.load()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::this_thread::sleep_for(timeout);
    kps::log::error("shutdown did not finish within shutdown_timeout_ms=", timeout.count(), "; exiting");
    std::_Exit(kExitRuntimeError);
  }).detach();
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (const std::string usage_error = parse_arguments(argc, argv, options); !usage_error.empty()) {
    std::cerr << "kafka-pg-sink: " << usage_error << "\n\n" << kUsage;
    return kExitUsage;
  }
  if (options.help) {
    std::cout << kUsage;
    return kExitOk;
  }
  if (options.version) {
    std::cout << kps::version_report();
    return kExitOk;
  }

  kps::Config config;
  try {
    config = kps::load_config_file(options.config_path, kps::process_environment());
    auto problems = kps::check_kafka_properties(config.kafka);
    if (config.errors.tolerance == kps::ErrorTolerance::All) {
      // The same properties configure the dead letter producer.
      for (kps::ConfigProblem& problem : kps::check_dead_letter_properties(config.kafka)) {
        problems.push_back(std::move(problem));
      }
    }
    if (!kps::dsn_parses(config.postgres.dsn)) {
      problems.push_back({"postgres.dsn", "libpq cannot parse it (a value holding spaces or quotes must be written "
                                          "in single quotes, with \\' and \\\\ escaped; or use a postgresql:// URI)"});
    }
    if (!problems.empty()) throw kps::ConfigError(std::move(problems));
  } catch (const kps::ConfigError& error) {
    std::ostream& report = options.check_config ? std::cout : std::cerr;
    report << "invalid configuration " << options.config_path << ":\n";
    for (const kps::ConfigProblem& problem : error.problems()) {
      report << "  " << (problem.path.empty() ? std::string("(file)") : problem.path) << ": " << problem.message
             << "\n";
    }
    return kExitUsage;
  }
  if (options.check_config) {
    std::cout << "config ok\n";
    return kExitOk;
  }

  kps::log::configure(config.log.level, config.log.format);
  if (options.offsets) {
    const auto request = kps::parse_offsets_arguments(options.offsets_arguments);
    if (!request) {
      std::cerr << "kafka-pg-sink: " << request.status().message() << "\n\n" << kUsage;
      return kExitUsage;
    }
    return kps::run_offsets_command(config, request.value(), std::cout, std::cerr);
  }
  install_signal_handlers();
  start_shutdown_watchdog(config.shutdown_timeout);
  kps::log::info("kafka-pg-sink ", KPS_VERSION, " starting: ", config.sinks.size(), " sink(s), group ",
                 config.kafka.group_id, options.until_caught_up ? ", until caught up" : "",
                 ", simdjson kernel ", kps::simdjson_kernel());
  try {
    kps::Connector connector(config, kps::RunOptions{options.until_caught_up}, g_stop_requested);
    const kps::Status status = connector.run();
    if (!status) {
      kps::log::error("stopping (", kps::error_kind_name(status.kind()), "): ", status.message());
      return kExitRuntimeError;
    }
  } catch (const std::exception& error) {
    kps::log::error("stopping: ", error.what());
    return kExitRuntimeError;
  }
  kps::log::info("stopped cleanly");
  return kExitOk;
}
