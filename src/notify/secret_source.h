// Reading a secret (webhook signing key, SMTP username or password) from the
// environment variable or the file the configuration names, at startup, so
// secrets never sit in the YAML file. Pure function.
#pragma once

#include <string>

#include "common/status.h"
#include "notify/notify_config.h"

namespace inlet::notify {

// The secret's value: the variable's value, or the file's content without
// trailing newlines. kNotFound when the variable is unset or the file is
// unreadable, kInvalidArgument when the value is empty. `what` names the
// secret in messages ("webhook secret of subscription hooks").
Result<std::string> ReadSecret(const SecretSource& source, const std::string& what);

}  // namespace inlet::notify
