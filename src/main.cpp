// servreg: the registry daemon, or with a subcommand, its command-line client.
#include <cstdio>
#include <variant>

#include "servreg/client.h"
#include "servreg/config/command_line.h"
#include "servreg/daemon.h"

namespace {

template <class... F>
struct overloaded : F... {
    using F::operator()...;
};
// Spelled out for clang 16 (the sanitizer builds), which lacks C++20's deduction for aggregates.
template <class... F>
overloaded(F...) -> overloaded<F...>;

}  // namespace

int main(int argc, char** argv) {
    auto parsed = servreg::config::parse_command_line(argc, argv);
    return std::visit(
        overloaded{
            [](const servreg::config::options& opts) { return servreg::run_daemon(opts); },
            [](const servreg::config::client_command& cmd) { return servreg::run_client(cmd); },
            [](const servreg::config::early_exit& e) {
                std::fputs(e.message.c_str(), e.status == 0 ? stdout : stderr);
                if (!e.message.empty() && e.message.back() != '\n') {
                    std::fputc('\n', e.status == 0 ? stdout : stderr);
                }
                return e.status;
            },
        },
        parsed);
}
