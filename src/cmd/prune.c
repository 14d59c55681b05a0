#include "cmd.h"

CMD_STUB(image_prune)
