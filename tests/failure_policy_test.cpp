#include "connector/failure_policy.h"

#include <catch2/catch.hpp>

using namespace kps;

TEST_CASE("A record that fits no column stops the daemon after draining, whatever else is said", "[failure_policy]") {
  CHECK(failure_action(Status::error(ErrorKind::Poison, Cause::UndecodableRecord, "bad")) ==
        FailureAction::StopAtUndecodable);
}

TEST_CASE("A record PostgreSQL refused stops at it, with or without rows pinned", "[failure_policy]") {
  CHECK(failure_action(Status::error(ErrorKind::Poison, Cause::RefusedRecord, "bad", "23505")) ==
        FailureAction::StopAtRefusedRecord);
  CHECK(failure_action(Status::error(ErrorKind::Poison, "refused", "22P02")) == FailureAction::StopAtRefusedRecord);
}

TEST_CASE("Transient failures recover and fatal ones stop, whatever their cause", "[failure_policy]") {
  for (Cause cause : {Cause::Unspecified, Cause::Fenced, Cause::PartitionsLost, Cause::DeadLetters}) {
    CHECK(failure_action(Status::error(ErrorKind::Transient, cause, "x")) == FailureAction::Recover);
    CHECK(failure_action(Status::error(ErrorKind::Fatal, cause, "x")) == FailureAction::Stop);
  }
}

TEST_CASE("Only a database failure counts toward giving up, and each cause has its own retry label", "[failure_policy]") {
  const RecoveryCause database = recovery_cause(Status::error(ErrorKind::Transient, "connection lost", "08006"));
  CHECK(std::string(database.metric_label) == "database");
  CHECK(database.database_unavailable);
  const RecoveryCause fenced = recovery_cause(Status::error(ErrorKind::Transient, Cause::Fenced, "moved"));
  CHECK(std::string(fenced.metric_label) == "fenced");
  CHECK_FALSE(fenced.database_unavailable);
  const RecoveryCause lost = recovery_cause(Status::error(ErrorKind::Transient, Cause::PartitionsLost, "lost"));
  CHECK(std::string(lost.metric_label) == "lost");
  CHECK_FALSE(lost.database_unavailable);
  const RecoveryCause letters = recovery_cause(Status::error(ErrorKind::Transient, Cause::DeadLetters, "timeout"));
  CHECK(std::string(letters.metric_label) == "dead_letter");
  CHECK_FALSE(letters.database_unavailable);
}
