#include "chat_interrupt.hpp"

#include <csignal>

namespace ravel::cli {

namespace {

// Lock-free atomics are safe to touch in a signal handler.
std::atomic<bool> g_cancel{false};
std::atomic<bool> g_exit{false};
std::atomic<bool> g_replying{false};
struct sigaction g_previous {};

void on_sigint(int) {
    if (g_replying.load() && !g_cancel.load()) {
        g_cancel.store(true);
        return;
    }
    if (!g_exit.exchange(true)) return;
    // Asked to end already and still running: end the default way (the signal is blocked
    // inside its handler, so it arrives as soon as this returns).
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
}

void install(bool restart) {
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGINT, &sa, nullptr);
}

}  // namespace

ChatInterrupt::ChatInterrupt() {
    static_assert(std::atomic<bool>::is_always_lock_free);
    g_cancel = false;
    g_exit = false;
    g_replying = false;
    sigaction(SIGINT, nullptr, &g_previous);
    install(false);
}

ChatInterrupt::~ChatInterrupt() {
    sigaction(SIGINT, &g_previous, nullptr);
}

void ChatInterrupt::at_prompt() {
    g_replying = false;
    if (!g_exit.load()) install(false);
}

void ChatInterrupt::replying() {
    g_cancel = false;
    g_replying = true;
    if (!g_exit.load()) install(true);
}

const std::atomic<bool>* ChatInterrupt::cancel_flag() const {
    return &g_cancel;
}

bool ChatInterrupt::exit_requested() const {
    return g_exit.load();
}

}  // namespace ravel::cli
