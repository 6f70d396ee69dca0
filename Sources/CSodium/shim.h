// libsodium from the system: Debian's libsodium-dev, Homebrew's libsodium. Only the CURVE trait builds this.
#include <sodium.h>
