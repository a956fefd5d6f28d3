// ravel-cli subcommands. Each takes the arguments after the subcommand name and writes results
// to `out` and errors to `err`; the return value is the process exit code.
#pragma once

#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace ravel::cli {

using CommandFn = int (*)(const std::vector<std::string>& args, std::ostream& out,
                          std::ostream& err);

struct Command {
    std::string_view name;
    std::string_view summary;
    CommandFn run;
};

// One definition per file cmd_<name>.cpp.
int cmd_info(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int cmd_bench(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int cmd_eval(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int cmd_tokenize(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int cmd_detokenize(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int cmd_convert(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int cmd_chat(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// The table main() dispatches on.
const std::vector<Command>& commands();
// Runs argv[1..] as a subcommand; prints usage for unknown commands.
int run(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace ravel::cli
