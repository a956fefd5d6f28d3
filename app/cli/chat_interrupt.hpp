// Ctrl-C in the interactive chats. During a reply the first Ctrl-C cancels it (the generator
// stops after the current token and the chat goes on); a second one during the same reply, or
// one at the prompt, asks the chat to end normally; a third ends the process the default way, so
// a stuck process can always be stopped.
#pragma once

#include <atomic>

namespace ravel::cli {

// Installs the SIGINT handler for its lifetime (one at a time; the previous handler comes back
// on destruction). Not for libraries: only the terminal chat loops use it.
class ChatInterrupt {
  public:
    ChatInterrupt();
    ~ChatInterrupt();
    ChatInterrupt(const ChatInterrupt&) = delete;
    ChatInterrupt& operator=(const ChatInterrupt&) = delete;

    // Before waiting for a line: Ctrl-C makes the read fail at once (it is not restarted) and
    // sets exit_requested().
    void at_prompt();
    // Before generating: clears the cancel flag; Ctrl-C then sets it (system calls restart, so
    // output being written is not lost).
    void replying();

    // For GenerateOptions::cancel / ReplyOptions::cancel.
    const std::atomic<bool>* cancel_flag() const;
    bool exit_requested() const;
};

}  // namespace ravel::cli
