#include "cmd.h"

CMD_STUB(inspect)
CMD_STUB(image_inspect)
