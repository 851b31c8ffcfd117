#include "lake/lake_config.h"

namespace inlet::lake {

const char* UpdateBehaviorName(UpdateBehavior b) {
  return b == UpdateBehavior::kLog ? "log" : "update_in_catalog";
}

const char* DeleteBehaviorName(DeleteBehavior b) {
  switch (b) {
    case DeleteBehavior::kLog:
      return "log";
    case DeleteBehavior::kDeleteFromCatalog:
      return "delete_from_catalog";
    case DeleteBehavior::kDeprecateInCatalog:
      return "deprecate_in_catalog";
  }
  return "log";
}

const char* RecrawlPolicyName(RecrawlPolicy p) {
  return p == RecrawlPolicy::kEverything ? "everything" : "new_folders_only";
}

}  // namespace inlet::lake
