// Settings of processors (validation, flattening, masking, aggregation,
// workers and autoscaling), filled by the configuration loader
// (config/process_section.cc). Plain values.
#pragma once

namespace inlet::process {

struct ProcessConfig {};

}  // namespace inlet::process
