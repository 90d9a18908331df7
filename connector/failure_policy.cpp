#include "connector/failure_policy.h"

namespace kps {

FailureAction failure_action(const Status& failure) {
  switch (failure.cause()) {
    case Cause::UndecodableRecord: return FailureAction::StopAtUndecodable;
    case Cause::RefusedRecord: return FailureAction::StopAtRefusedRecord;
    case Cause::Fenced:
    case Cause::PartitionsLost:
    case Cause::DeadLetters:
    case Cause::Unspecified: break;
  }
  switch (failure.kind()) {
    case ErrorKind::Transient: return FailureAction::Recover;
    // A refusal the writer could not pin on rows: PostgreSQL holds what came before it.
    case ErrorKind::Poison: return FailureAction::StopAtRefusedRecord;
    case ErrorKind::Fatal: return FailureAction::Stop;
  }
  return FailureAction::Stop;  // unreachable: both switches cover every value
}

RecoveryCause recovery_cause(const Status& cause) {
  switch (cause.cause()) {
    case Cause::Fenced: return {"fenced", "PostgreSQL write failed: ", false};
    case Cause::PartitionsLost: return {"lost", "", false};
    case Cause::DeadLetters: return {"dead_letter", "dead letters not acknowledged: ", false};
    case Cause::UndecodableRecord:
    case Cause::RefusedRecord:
    case Cause::Unspecified: return {"database", "PostgreSQL write failed: ", true};
  }
  return {"database", "PostgreSQL write failed: ", true};  // unreachable
}

}  // namespace kps
