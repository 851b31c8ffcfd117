#include "cli/policy_command.h"

#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "bus/filter_policy.h"

namespace inlet::cli {
namespace {

bool ReadWholeFile(const std::string& path, std::string* out, std::ostream& err) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    err << "inlet policy test: cannot read " << path << "\n";
    return false;
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  *out = buffer.str();
  return true;
}

struct PolicyTestOptions {
  std::string policy_file;
  std::string message_file;
  std::string attributes_file;
  std::string scope;
};

}  // namespace

int RunPolicyTest(const std::string& policy_file, const std::string& message_file,
                  const std::string& attributes_file, const std::string& scope_text,
                  std::ostream& out, std::ostream& err) {
  // The scope follows the message kind unless given: --attributes means
  // MessageAttributes, --message means MessageBody.
  std::string scope_name = scope_text;
  if (scope_name.empty())
    scope_name = attributes_file.empty() ? "MessageBody" : "MessageAttributes";
  Result<bus::PolicyScope> scope = bus::ParsePolicyScope(scope_name);
  if (!scope.ok()) {
    err << "inlet policy test: " << scope.status().message() << "\n";
    return 1;
  }
  const bool wants_attributes = *scope == bus::PolicyScope::kMessageAttributes;
  const std::string& input_file = wants_attributes ? attributes_file : message_file;
  if (input_file.empty()) {
    err << "inlet policy test: scope " << scope_name << " needs "
        << (wants_attributes ? "--attributes FILE" : "--message FILE") << "\n";
    return 1;
  }
  std::string policy, message;
  if (!ReadWholeFile(policy_file, &policy, err) || !ReadWholeFile(input_file, &message, err)) {
    return 2;
  }
  Result<bool> matched = bus::TestPolicy(policy, *scope, message);
  if (!matched.ok()) {
    err << "inlet policy test: " << matched.status().message() << "\n";
    return 1;
  }
  out << (*matched ? "match" : "no match") << "\n";
  return 0;
}

void AddPolicyCommand(CLI::App& app, int& exit_code) {
  CLI::App* policy = app.add_subcommand("policy", "Work with SNS-compatible filter policies");
  policy->require_subcommand(1);
  CLI::App* test = policy->add_subcommand(
      "test",
      "Evaluate a filter policy against one message: prints 'match' or 'no match' (exit 0), "
      "or the validation error (exit 1)");
  auto options = std::make_shared<PolicyTestOptions>();
  test->add_option("--policy", options->policy_file, "Filter policy JSON file")
      ->required()
      ->check(CLI::ExistingFile);
  auto* message = test->add_option("--message", options->message_file,
                                   "Message body JSON file (scope MessageBody)")
                      ->check(CLI::ExistingFile);
  auto* attributes = test->add_option("--attributes", options->attributes_file,
                                      "Message attributes JSON file, SNS Publish form "
                                      "{\"name\": {\"DataType\": \"String|Number|String.Array\", "
                                      "\"StringValue\": \"...\"}} (scope MessageAttributes)")
                         ->check(CLI::ExistingFile);
  message->excludes(attributes);
  attributes->excludes(message);
  test->add_option("--scope", options->scope,
                   "MessageBody or MessageAttributes (default: from --message/--attributes)")
      ->check(CLI::IsMember({"MessageBody", "MessageAttributes"}));
  test->callback([options, message, attributes, &exit_code] {
    if (message->count() == 0 && attributes->count() == 0) {
      throw CLI::RequiredError("--message or --attributes");
    }
    exit_code = RunPolicyTest(options->policy_file, options->message_file, options->attributes_file,
                              options->scope, std::cout, std::cerr);
  });
}

}  // namespace inlet::cli
