#include "cmd.h"

CMD_STUB(rmi)
